"""`papercast embed`: compute the vectors that semantic search needs for new and changed papers."""

from __future__ import annotations

import json
import sys

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from papercast.cli.context import papercast_app
from papercast.cli.progress import TerminalProgress, stderr_console
from papercast.embeddings.factory import EMBEDDING_MODELS
from papercast.services.embedding import EmbedReport


def register(root: typer.Typer) -> None:
    @root.command("embed")
    def embed(
        batch_size: int | None = typer.Option(
            None, "--batch-size", min=1,
            help="Papers per committed batch; default: the encoder's batch (64 on CPU, 512 on CUDA)."),
        limit: int | None = typer.Option(None, "--limit", min=1, help="Stop after this many papers."),
        model: str | None = typer.Option(
            None, "--model",
            help=f"Encoder: {', '.join(EMBEDDING_MODELS)}; default: PAPERCAST_EMBEDDING_MODEL."),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON report on stdout."),
        prepare: bool = typer.Option(
            False, "--prepare",
            help="Only load the encoder, building what it builds once (MiniLM's ONNX graph), and exit."),
    ) -> None:
        """Embed papers whose vector is missing or stale (new, changed, or made by another encoder).

        Each batch is committed: an interrupted run keeps its work and the next one continues.
        """
        if model is not None and model not in EMBEDDING_MODELS:
            raise typer.BadParameter(f"unknown encoder {model!r}; use one of {', '.join(EMBEDDING_MODELS)}",
                                     param_hint="--model")
        if prepare:
            prepare_encoder(model)
            return
        with papercast_app() as papercast:
            service = papercast.embedding_service(model)
            pending = service.pending_count()
            total = pending if limit is None else min(limit, pending)
            with EmbedProgress(total, enabled=not as_json and sys.stderr.isatty()) as progress:
                report = service.catch_up(batch_size=batch_size or service.preferred_batch_size,
                                          on_progress=progress.update, limit=limit)
        print_report(report, as_json)


def prepare_encoder(model: str | None) -> None:
    """Load the encoder and wait for what it builds at first use, so a server starts with it ready."""
    with papercast_app() as papercast:
        embedder = papercast.load_embedder(model) if model else papercast.embedder()
        wait = getattr(embedder, "wait_for_runtime", None)  # MiniLM: its graph may be building
        runtime = f" (runtime: {wait()})" if wait is not None else ""
    typer.echo(f"encoder {embedder.model_id} ready{runtime}")


class EmbedProgress(TerminalProgress):
    """A progress bar with the embedding rate, on stderr when it is a terminal."""

    def __init__(self, total: int, enabled: bool) -> None:
        progress = (Progress(TextColumn("embedding"), BarColumn(), MofNCompleteColumn(),
                             TextColumn("{task.description}"), TimeRemainingColumn(),
                             console=stderr_console(), transient=True) if enabled and total else None)
        super().__init__(progress, total=total)

    def update(self, report: EmbedReport) -> None:
        self._show(completed=report.processed, description=f"{report.rate:,.1f}/s")


def print_report(report: EmbedReport, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(report.as_dict()))
        return
    kept = f" ({report.refreshed:,} with unchanged text kept their vector)" if report.refreshed else ""
    typer.echo(f"{report.embedded:,} embedded{kept}, {report.remaining:,} remaining; "
               f"{report.rate:,.1f} papers/s over {report.seconds:,.1f} s with {report.model_id}")
