"""`papercast worker`: run background jobs and keep this machine's search indexes following the
database, until SIGTERM or Ctrl-C; `--once` runs what is due now and exits (for cron)."""

from __future__ import annotations

import typer

from papercast.cli.context import EXIT_PARTIAL, papercast_app
from papercast.worker.loop import WorkerReport
from papercast.worker.runner import Outcome
from papercast.worker.signals import stop_on_signals
from papercast.worker.tasks import build_worker


def register(root: typer.Typer) -> None:
    @root.command("worker")
    def worker(
        interval: float | None = typer.Option(
            None, "--interval", min=0.01,
            help="Seconds between index-following rounds, and the longest idle wait between looks "
                 "for jobs; default: PAPERCAST_WORKER_INTERVAL (2)."),
        once: bool = typer.Option(False, "--once", help="Run the jobs due now and one round of index "
                                                         "following, then exit."),
        embed_batch: int | None = typer.Option(
            None, "--embed-batch", min=1,
            help="Papers one embedding job embeds before letting other jobs run (it continues after); "
                 "default: PAPERCAST_WORKER_EMBED_BATCH (256)."),
    ) -> None:
        """Run background jobs (embedding, scheduled harvests, sending mail, pruning, task modules'
        kinds) and follow the search indexes.

        Start as many as you like on PostgreSQL: jobs are claimed with a lease, each by one worker.
        SIGTERM stops claiming and gives the running job PAPERCAST_WORKER_GRACE_SECONDS to end.
        """
        with papercast_app() as papercast:
            running = build_worker(papercast, interval=interval, embed_batch=embed_batch)
            if once:
                with stop_on_signals(running):
                    report = running.run_once()
                typer.echo(summary(report))
                if report.jobs[Outcome.FAILED] or report.jobs[Outcome.DEAD] or report.jobs[Outcome.LOST]:
                    raise typer.Exit(EXIT_PARTIAL)
                return
            typer.echo(f"papercast worker {running.owner} running; SIGTERM or Ctrl-C stops it", err=True)
            with stop_on_signals(running):
                running.run()


def summary(report: WorkerReport) -> str:
    """`ran 3 jobs (done 2, continued 1); follow-index 120, similar-papers 0`."""
    ran = sum(report.jobs.values())
    outcomes = ", ".join(f"{outcome} {count}" for outcome, count in sorted(report.jobs.items()))
    duties = ", ".join(f"{name} {count}" for name, count in report.duties.items())
    return f"ran {ran} job{'s' * (ran != 1)}{f' ({outcomes})' if outcomes else ''}; {duties or 'no duties'}"
