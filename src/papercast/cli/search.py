"""`papercast search`, `similar`, `eval` and `eval-export`: search the catalog from the command line.

Each command first brings this process's indexes under `<data_dir>/index/` up to date with
the database (`IndexFollower.catch_up`), embedding a small backlog of papers without vectors
(up to `EMBED_ON_DEMAND_MAX`) so that the first search is already hybrid.
"""

from __future__ import annotations

import json
import logging
import math
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from papercast.bootstrap import Papercast
from papercast.cli.context import fail, papercast_app
from papercast.domain.errors import InvalidInput, PapercastError
from papercast.domain.evaluation import GAINS, evaluate
from papercast.services.search import MODES, SORTS, SearchResponse, SearchService, SearchTuning

log = logging.getLogger("papercast.cli.search")

EMBED_ON_DEMAND_MAX = 5_000
# Batch runs and evaluations wait for the encoder: a timeout there would silently mix modes.
BATCH_TUNING = SearchTuning(embed_timeout=120.0)


@dataclass
class SearchSetup:
    """A ready search service and what the user should know about how it was prepared."""

    service: SearchService
    notes: list[str]


def ensure_indexes(papercast: Papercast, embed_max: int = EMBED_ON_DEMAND_MAX,
                   tuning: SearchTuning | None = None) -> SearchSetup:
    """Bring this process's indexes up to date with the database and return a search service.

    A small backlog of papers without vectors (a demo corpus, a fresh import) is embedded on
    the spot, so the first search is already hybrid; a large one is left to `papercast embed`.
    """
    notes: list[str] = []
    semantic = _embed_small_backlog(papercast, embed_max, notes)
    report = papercast.index_follower().catch_up()
    if not report.wrote:
        notes.append("another process writes the search index; searching what it has published")
    notes.extend(f"the {name} index was damaged or stale; it has been rebuilt from the database"
                 for name in report.repaired)
    service = papercast.search_service(semantic=semantic, tuning=tuning)
    if semantic and not service.semantic_available:
        notes.append("no paper vectors yet; showing keyword matches")
    return SearchSetup(service, notes)


def _embed_small_backlog(papercast: Papercast, embed_max: int, notes: list[str]) -> bool:
    """Embed pending papers when there are few; False when semantic search cannot run here."""
    try:
        service = papercast.embedding_service()
    except (PapercastError, ImportError) as error:
        notes.append(f"semantic search is off: {error}")
        return False
    pending = service.pending_count()
    if pending and pending <= embed_max:
        typer.echo(f"embedding {pending:,} papers for semantic search (once)...", err=True)
        report = service.catch_up(batch_size=service.preferred_batch_size)
        log.info("search.embed_on_demand embedded=%d", report.embedded)
    elif pending:
        notes.append(f"{pending:,} papers have no vector yet and are found by keywords only; "
                     "run `papercast embed`")
    return True


@contextmanager
def search_service(tuning: SearchTuning | None = None) -> Iterator[SearchSetup]:
    with papercast_app() as papercast:
        setup = ensure_indexes(papercast, tuning=tuning)
        for note in setup.notes:
            typer.echo(f"note: {note}", err=True)
        try:
            yield setup
        finally:
            setup.service.close()


def register(root: typer.Typer) -> None:
    @root.command("search")
    def search(
        query: Annotated[str | None, typer.Argument(
            help='Words, "phrases", -excluded, author:, cat:, year:2020..2024, id:')] = None,
        limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=100, help="Results to show.")] = 10,
        offset: Annotated[int, typer.Option(min=0, help="Results to skip.")] = 0,
        sort: Annotated[str, typer.Option(help=f"One of {', '.join(SORTS)}.")] = "relevance",
        mode: Annotated[str | None, typer.Option(
            help=f"Force one of {', '.join(MODES)} (default: hybrid).")] = None,
        batch: Annotated[Path | None, typer.Option(
            help='JSON lines of {"qid", "query"}; prints {"qid", "ranking"} per line.')] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print the response as JSON.")] = False,
    ) -> None:
        """Search titles and abstracts by keywords and meaning together."""
        _check_choice(sort, SORTS, "--sort")
        if mode is not None:
            _check_choice(mode, MODES, "--mode")
        if (query is None) == (batch is None):
            fail("give a QUERY or --batch FILE (not both)")
        # A batch file is read whole first: a bad line stops the run before the encoder loads.
        queries = list(_read_queries(batch)) if batch is not None else []
        with search_service(BATCH_TUNING if batch is not None else None) as setup:
            if batch is not None:
                for qid, text in queries:
                    response = setup.service.search(text, sort=sort, limit=limit, mode=mode)
                    typer.echo(json.dumps({"qid": qid, "ranking": response.ranking}, ensure_ascii=False))
                return
            response = setup.service.search(query or "", sort=sort, offset=offset, limit=limit, mode=mode)
        _print_response(response, as_json)

    @root.command("similar")
    def similar(
        paper_id: Annotated[str, typer.Argument(metavar="ID", help="arXiv id (any spelling) or local id.")],
        limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=100, help="Papers to show.")] = 10,
        as_json: Annotated[bool, typer.Option("--json", help="Print the response as JSON.")] = False,
    ) -> None:
        """Papers closest in meaning to one paper."""
        with search_service() as setup:
            response = setup.service.similar(paper_id, limit=limit)
        _print_response(response, as_json)

    @root.command("eval")
    def evaluate_command(
        qrels: Annotated[Path, typer.Argument(help='JSON lines {"qid", "query", "relevant": {id: grade}}.')],
        limit: Annotated[int, typer.Option("--limit", "-k", min=1, max=100, help="Metrics cut-off k.")] = 10,
        gains: Annotated[str, typer.Option(help=f"nDCG gains: {' or '.join(GAINS)}.")] = "exponential",
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    ) -> None:
        """nDCG@k, MRR@k and Recall@k of keyword-only, vector-only and hybrid search on judged queries."""
        _check_choice(gains, GAINS, "--gains")
        judged = list(read_judged(qrels))
        with search_service(BATCH_TUNING) as setup:
            modes = [m for m in MODES if m == "keyword" or setup.service.semantic_available]
            report: dict[str, Any] = {"queries": len(judged), "k": limit, "gains": gains, "modes": {}}
            for mode in modes:
                responses = [(setup.service.search(text, limit=limit, mode=mode), relevant)
                             for _, text, relevant in judged]
                metrics = evaluate([(r.ranking, relevant) for r, relevant in responses], k=limit, gains=gains)
                report["modes"][mode] = {**metrics.as_dict(),
                                         "degraded": sum(1 for r, _ in responses if r.degraded)}
        if as_json:
            typer.echo(json.dumps(report))
            return
        typer.echo(f"{len(judged)} queries, metrics at {limit} ({gains} gains)")
        typer.echo(f"{'mode':<9} {'nDCG':>7} {'MRR':>7} {'Recall':>7}")
        for mode, metrics in report["modes"].items():
            degraded = f"  ({metrics['degraded']} answered by keywords only)" if metrics["degraded"] else ""
            typer.echo(f"{mode:<9} {metrics[f'ndcg@{limit}']:>7.4f} {metrics[f'mrr@{limit}']:>7.4f} "
                       f"{metrics[f'recall@{limit}']:>7.4f}{degraded}")

    @root.command("eval-export")
    def eval_export(
        collection: Annotated[str, typer.Argument(help="cranfield or cisi")],
        folder: Annotated[Path, typer.Argument(help="Folder with the collection's original files.")],
        out: Annotated[Path, typer.Option(help="Where to write the two JSON-lines files.")] = Path("."),
    ) -> None:
        """Convert a classic test collection to `<name>-papers.jsonl` (for `papercast ingest`) and
        `<name>-queries.jsonl` (for `papercast eval`)."""
        from papercast.sources.ir_benchmarks import load_collection

        try:
            loaded = load_collection(collection, folder)
        except InvalidInput as error:
            fail(str(error))
        out.mkdir(parents=True, exist_ok=True)
        papers_path, queries_path = out / f"{loaded.name}-papers.jsonl", out / f"{loaded.name}-queries.jsonl"
        with papers_path.open("w", encoding="utf-8") as stream:
            for record in loaded.records:
                stream.write(json.dumps({"id": record.paper_id, "title": record.title,
                                         "abstract": record.abstract,
                                         "authors": [author.name for author in record.authors]},
                                        ensure_ascii=False) + "\n")
        with queries_path.open("w", encoding="utf-8") as stream:
            for judged in loaded.queries:
                stream.write(json.dumps(judged.as_dict(), ensure_ascii=False) + "\n")
        typer.echo(f"{len(loaded.records)} papers -> {papers_path}\n{len(loaded.queries)} judged queries -> "
                   f"{queries_path}")


def _check_choice(value: str, choices: tuple[str, ...], option: str) -> None:
    if value not in choices:
        raise typer.BadParameter(f"{value!r} is not one of {', '.join(choices)}", param_hint=option)


def _read_lines(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """JSON objects with a "query" string, one a line, with their line numbers; any line that is
    not (invalid UTF-8, not JSON, another shape) stops the command naming the file and line."""
    try:
        stream = sys.stdin.buffer if str(path) == "-" else path.open("rb")
    except OSError as error:
        fail(f"cannot read {path}: {error.strerror or error}")
    with stream:
        # Decoded line by line (not by a text stream's chunks), so a bad byte has a line number.
        for number, raw in enumerate(stream, start=1):
            line = _decoded(raw, path, number)
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except ValueError:
                fail(f"{path} line {number}: not JSON")
            if not isinstance(value, dict) or not isinstance(value.get("query"), str):
                fail(f'{path} line {number}: expected an object with a "query" string')
            yield number, value


def _decoded(raw: bytes, path: Path, number: int) -> str:
    try:
        # A byte-order mark some editors put at the start of a UTF-8 file is not part of the JSON.
        return raw.decode("utf-8-sig" if number == 1 else "utf-8")
    except UnicodeDecodeError as error:
        fail(f"{path} line {number}: not UTF-8 text (byte 0x{raw[error.start]:02x} at byte "
             f"{error.start + 1} of the line); save the file as UTF-8")


def _read_queries(path: Path) -> Iterator[tuple[str, str]]:
    for number, value in _read_lines(path):
        yield str(value.get("qid", number)), value["query"]


def read_judged(path: Path) -> Iterator[tuple[str, str, dict[str, float]]]:
    for number, value in _read_lines(path):
        relevant = value.get("relevant")
        if not isinstance(relevant, dict) or not all(_is_grade(grade) for grade in relevant.values()):
            fail(f'{path} line {number}: expected "relevant": {{paper id: numeric grade}}')
        yield str(value.get("qid", number)), value["query"], {str(k): float(v) for k, v in relevant.items()}


def _is_grade(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:  # an integer too large for a float is no grade either
        return False


def _print_response(response: SearchResponse, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(response.as_dict(), ensure_ascii=False, indent=2))
        return
    for warning in response.warnings:
        typer.echo(f"note: {warning}", err=True)
    if not response.results:
        typer.echo("no results")
    for rank, hit in enumerate(response.results, start=response.offset + 1):
        flags = " [withdrawn]" if hit.withdrawn else ""
        typer.echo(f"{rank:>3}. {hit.paper_id}  {_terminal(hit.title_segments)}{flags}")
        details = [", ".join(hit.authors[:3]) + (" et al." if len(hit.authors) > 3 else "")]
        if hit.categories:
            details.append(f"[{' '.join(hit.categories)}]")
        if hit.announced_on:
            details.append(hit.announced_on.isoformat())
        line = "  ".join(part for part in details if part)
        if line:
            typer.echo(f"     {line}")
        if hit.snippet:
            typer.echo(f"     {_terminal(hit.snippet)}")
    if response.mode != "none":
        matches = "1 match" if response.total_estimate == 1 else f"about {response.total_estimate:,} matches"
        typer.echo(f"-- {response.mode} search, {matches}, {response.took_ms:.0f} ms", err=True)


def _terminal(segments: Any) -> str:
    """Matches in bold on a terminal; plain text otherwise (pipes, files)."""
    if not sys.stdout.isatty():
        return "".join(segment.text for segment in segments)
    return "".join(typer.style(s.text, bold=True) if s.match else s.text for s in segments)

