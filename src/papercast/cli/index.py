"""`papercast index` and `papercast worker`: keep the search indexes following the database."""

from __future__ import annotations

import json
import logging
import time

import typer

from papercast.cli.context import papercast_app

app = typer.Typer(help="Search indexes: status and rebuild.", no_args_is_help=True)
log = logging.getLogger("papercast.worker")
# Papers whose similar papers one worker round precomputes (about 20 s at 100k papers on 2 cores),
# so that a round never keeps new papers waiting long.
NEIGHBOURS_PER_ROUND = 5_000


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
    """Throw the local indexes away and index every paper and stored vector again."""
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

    @root.command("worker")
    def worker(
        interval: float = typer.Option(5.0, "--interval", min=0.1, help="Seconds between rounds when idle."),
        once: bool = typer.Option(False, "--once", help="One round, then exit."),
        embed_batch: int = typer.Option(256, "--embed-batch", min=1,
                                        help="Papers embedded per round at most (keeps rounds short)."),
    ) -> None:
        """Drain the embedding backlog and keep the search indexes current, until stopped."""
        with papercast_app() as papercast:
            follower = papercast.index_follower()
            embedding = papercast.embedding_service()
            while True:
                embedded = embedding.catch_up(limit=embed_batch).embedded
                followed = follower.catch_up()
                # After the backlog is embedded, so that lists are computed against the whole index.
                similar = 0 if embedded else follower.refresh_neighbours(max_rows=NEIGHBOURS_PER_ROUND)
                log.info("worker.round embedded=%d papers=%d vectors=%d similar=%d", embedded,
                         followed.papers_indexed, followed.vectors_indexed, similar)
                if once:
                    typer.echo(f"embedded {embedded}, indexed {followed.papers_indexed} papers and "
                               f"{followed.vectors_indexed} vectors, similar papers of {similar}")
                    return
                if not (embedded or followed.papers_indexed or followed.vectors_indexed or similar):
                    time.sleep(interval)
