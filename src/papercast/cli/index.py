"""`papercast index`: how far the search indexes trail the database, and rebuilding them."""

from __future__ import annotations

import json
import time

import typer

from papercast.cli.context import papercast_app

app = typer.Typer(help="Search indexes: status and rebuild.", no_args_is_help=True)


@app.command("status")
def status(
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    verify: bool = typer.Option(False, "--verify", help="Also read every index file and check its checksum."),
) -> None:
    """How far the local search indexes trail the database (in changes and seconds), and any
    damage found in them, with what to do."""
    with papercast_app() as papercast:
        report = papercast.index_follower().status(verify=verify)
    if as_json:
        typer.echo(json.dumps(report.as_dict()))
        return
    typer.echo(f"catalog:  {report.catalog_papers:,} papers, change sequence {report.catalog_seq:,}")
    typer.echo(f"keyword:  {report.keyword_documents:,} documents at sequence {report.keyword_seq:,}; "
               f"lag {report.keyword_lag_changes:,} changes, {report.keyword_lag_seconds:.1f} s")
    typer.echo(f"vectors:  {report.vectors:,} of model {report.model_id or 'none'} at sequence "
               f"{report.vector_seq:,}; lag {report.vector_lag_changes:,} vectors; "
               f"{report.embeddings_pending:,} papers wait for `papercast embed`")
    typer.echo(f"similar:  {report.neighbours_pending:,} papers wait for their similar papers "
               "(the worker computes them)")
    for name, problem in (("keyword", report.keyword_problem), ("vectors", report.vector_problem)):
        if problem:
            typer.echo(f"problem:  the {name} index cannot be trusted: {problem}")
    if report.keyword_problem or report.vector_problem:
        typer.echo(f"todo:     {_repair_advice(report.writer_pid)}")


def _repair_advice(writer_pid: int | None) -> str:
    if writer_pid is None:
        return ("run `papercast index rebuild` (or start `papercast serve` or `papercast worker`: "
                "they rebuild it)")
    return (f"the process that writes the index (pid {writer_pid}) rebuilds it from the database on its "
            "own; searches meanwhile answer from what still works")


@app.command("rebuild")
def rebuild(
    neighbours: bool = typer.Option(True, "--neighbours/--no-neighbours",
                                    help="Also precompute every paper's similar papers now "
                                         "(else the worker does it in the background)."),
) -> None:
    """Index every paper and stored vector again from the database, whatever is on disk; the new
    indexes replace the old ones once complete."""
    with papercast_app() as papercast:
        started = time.perf_counter()
        follower = papercast.index_follower()
        report = follower.rebuild()
        typer.echo(f"indexed {report.papers_indexed:,} papers and {report.vectors_indexed:,} vectors "
                   f"in {time.perf_counter() - started:.1f} s")
        if neighbours and report.vectors_indexed:
            started = time.perf_counter()
            done = follower.refresh_neighbours()
            typer.echo(f"computed the similar papers of {done:,} papers "
                       f"in {time.perf_counter() - started:.1f} s")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="index")
