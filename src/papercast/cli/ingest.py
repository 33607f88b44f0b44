"""`papercast ingest` and `papercast demo`: load files of paper metadata into the catalog."""

from __future__ import annotations

import json
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from importlib.resources import files
from pathlib import Path
from types import FrameType

import typer

from papercast.cli.context import EXIT_PARTIAL, papercast_app
from papercast.cli.progress import IngestProgress
from papercast.domain.errors import InvalidInput, SourceError
from papercast.domain.ingest import IngestReport, IngestStopped, Rejection
from papercast.runtime import fewer_gc_passes
from papercast.services.ingest import IngestService
from papercast.sources.detect import FORMATS, open_source

DEMO_CORPUS = "demo-papers.jsonl"
# Real papers with their Hugging Face upvotes (src/papercast/data/SOURCES.md): a new install
# opens on a trending list.
DEMO_TRENDING = "hf-daily-papers-2026-06-12.json"


def register(root: typer.Typer) -> None:
    @root.command("ingest")
    def ingest(
        paths: list[Path] = typer.Argument(..., help="Files to ingest (.gz is read transparently)."),
        fmt: str | None = typer.Option(None, "--format", "-f",
                                       help=f"One of {', '.join(FORMATS)}; detected when omitted."),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON report on stdout."),
    ) -> None:
        """Ingest paper metadata files; re-running the same input changes nothing.

        Exit status: 0 when everything was stored, 1 when records were rejected or a file
        could not be read (completely), 2 when the command could not run, 130 when interrupted
        (Ctrl-C, SIGINT or SIGTERM; every batch committed before is kept).
        """
        if fmt is not None and fmt not in FORMATS:
            raise typer.BadParameter(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}",
                                     param_hint="--format")
        with papercast_app() as papercast, terminate_as_interrupt():
            report, errors = ingest_files(papercast.ingest, paths, fmt, show_progress=not as_json)
        print_report(report, errors, as_json)
        if report.rejected or errors:
            raise typer.Exit(EXIT_PARTIAL)

    @root.command("demo")
    def demo(force: bool = typer.Option(False, help="Load even when the catalog is not empty.")) -> None:
        """Load the bundled demo data into an empty catalog: 236 neural-network papers, and 30 real
        papers of a Hugging Face daily list with their authors, dates and upvotes (for trending)."""
        with papercast_app() as papercast:
            count = papercast.catalog.stats().papers
            if count and not force:
                typer.echo(f"catalog holds {count} papers; demo corpus not loaded (use --force)")
                return
            data = files("papercast") / "data"
            report, errors = ingest_files(papercast.ingest, [Path(str(data / DEMO_CORPUS))], "jsonl",
                                          show_progress=False)
            trending, trending_errors = ingest_files(papercast.ingest, [Path(str(data / DEMO_TRENDING))],
                                                     "hf-daily", show_progress=False)
        report.add(trending)
        print_report(report, errors + trending_errors, as_json=False)


@contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM (a service manager stopping, `timeout`, `kill`) ends ingest as Ctrl-C does: the
    batch being written rolls back, the read-ahead process is stopped, one line says so."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may handle signals (and only it receives them)
        return
    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def ingest_files(service: IngestService, paths: list[Path], fmt: str | None,
                 show_progress: bool) -> tuple[IngestReport, list[dict[str, str]]]:
    """Ingest each file in turn; a file that cannot be read is an error, the others go on.

    A file whose reading fails part-way (a truncated gzip) is an error too, and what was
    stored from it before is counted in the report.
    """
    total = IngestReport()
    errors: list[dict[str, str]] = []
    for path in paths:
        try:
            report = _ingest_file(service, path, fmt, show_progress)
        except (SourceError, InvalidInput, OSError) as error:
            if isinstance(error, IngestStopped):
                report = error.report
                report.rejections = [_located(r, path) for r in report.rejections]
                total.add(report)
            message = getattr(error, "strerror", None) or str(error)
            errors.append({"path": str(path), "error": message,
                           "code": getattr(error, "code", None) or type(error).__name__})
            continue
        report.rejections = [_located(r, path) for r in report.rejections]
        total.add(report)
    return total, errors


def _ingest_file(service: IngestService, path: Path, fmt: str | None, show_progress: bool) -> IngestReport:
    source = open_source(path, fmt)
    with (IngestProgress(path.name, enabled=show_progress and sys.stderr.isatty()) as progress,
          fewer_gc_passes() as between_batches):

        def after_batch(report: IngestReport) -> None:
            progress.update(report)
            between_batches()

        return service.ingest_source(source, on_batch=after_batch)


def _located(rejection: Rejection, path: Path) -> Rejection:
    return replace(rejection, location=f"{path.name} {rejection.location}")


def print_report(report: IngestReport, errors: list[dict[str, str]], as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps({**report.as_dict(), "errors": errors}, ensure_ascii=False))
        return
    typer.echo(f"{report.new} new, {report.updated} updated, {report.unchanged} unchanged, "
               f"{report.rejected} rejected")
    for rejection in report.rejections:
        typer.echo(f"  rejected {rejection.location}: {rejection.reason}", err=True)
    for error in errors:
        typer.echo(f"error: {error['path']}: {error['error']}", err=True)
