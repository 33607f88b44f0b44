"""`papercast jobs`: see background jobs, retry failed or dead ones, cancel unfinished ones."""

from __future__ import annotations

import json
from datetime import datetime

import typer

from papercast.cli.context import EXIT_PARTIAL, fail, papercast_app
from papercast.domain.errors import PapercastError
from papercast.domain.jobs import Job, JobState

app = typer.Typer(help="Background jobs: list, show, retry, cancel.", no_args_is_help=True)

STATE_NAMES = ", ".join(state.value for state in JobState)


@app.command("list")
def list_jobs(
    states: list[str] = typer.Option([], "--state", help=f"Only jobs in this state ({STATE_NAMES}); "
                                                          "repeat for several."),
    kinds: list[str] = typer.Option([], "--kind", help="Only jobs of this kind; repeat for several."),
    limit: int = typer.Option(50, "--limit", min=1, max=10_000, help="At most this many, newest first."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List jobs, newest first. A running job whose lease expired is marked: its worker stopped,
    and the next worker to look claims it again."""
    wanted = [_state(name) for name in states]
    with papercast_app() as papercast:
        found = papercast.jobs.list(states=wanted, kinds=kinds, limit=limit)
        now = papercast.clock.now()
    if as_json:
        typer.echo(json.dumps({"jobs": [_json(job, now) for job in found]}, ensure_ascii=False, indent=2))
        return
    if not found:
        typer.echo("no jobs")
        return
    typer.echo(f"{'id':>8}  {'kind':<20} {'state':<24} {'tries':>5}  {'run at (UTC)':<19}  last error")
    for job in found:
        typer.echo(f"{job.id:>8}  {job.kind:<20} {_state_text(job, now):<24} {job.attempts:>5}  "
                   f"{_moment(job.run_at):<19}  {_first_line(job.last_error)}")


@app.command("show")
def show(job_id: int = typer.Argument(..., metavar="ID"),
         as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Print one job, with its payload and its last error in full."""
    with papercast_app() as papercast:
        job = papercast.jobs.get(job_id)
        now = papercast.clock.now()
    if as_json:
        typer.echo(json.dumps(_json(job, now), ensure_ascii=False, indent=2))
        return
    lease = (f"{job.lease_owner} until {_moment(job.lease_expires_at)}" if job.lease_owner else "none")
    for label, value in (("id", job.id), ("kind", job.kind), ("state", _state_text(job, now)),
                         ("unique key", job.unique_key or "none"), ("attempts", job.attempts),
                         ("run at", _moment(job.run_at)), ("lease", lease),
                         ("created", _moment(job.created_at)), ("updated", _moment(job.updated_at)),
                         ("payload", json.dumps(job.payload, ensure_ascii=False, sort_keys=True))):
        typer.echo(f"{label + ':':<12}{value}")
    if job.last_error:
        typer.echo(f"last error:\n{job.last_error}")


@app.command("retry")
def retry(job_ids: list[int] = typer.Argument(..., metavar="ID...", help="Failed or dead jobs."),
          as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Make failed or dead jobs due now, with fresh attempts."""
    _each(job_ids, "retry", as_json)


@app.command("cancel")
def cancel(job_ids: list[int] = typer.Argument(..., metavar="ID...", help="Due, failed or running jobs."),
           as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """End unfinished jobs; they are kept as dead. A worker running one finishes its step, but its
    result is not recorded."""
    _each(job_ids, "cancel", as_json)


def _each(job_ids: list[int], action: str, as_json: bool) -> None:
    """Apply `action` to every job; one that cannot be changed is reported and the others still are."""
    changed: list[Job] = []
    errors: list[dict[str, object]] = []
    with papercast_app() as papercast:
        operate = papercast.jobs.retry if action == "retry" else papercast.jobs.cancel
        for job_id in job_ids:
            try:
                changed.append(operate(job_id))
            except PapercastError as error:
                errors.append({"id": job_id, "error": str(error)})
        now = papercast.clock.now()
    if as_json:
        typer.echo(json.dumps({"jobs": [_json(job, now) for job in changed], "errors": errors},
                              ensure_ascii=False, indent=2))
    else:
        for job in changed:
            typer.echo(f"job {job.id} ({job.kind}) is now {job.state}")
        for failure in errors:
            typer.echo(f"error: job {failure['id']}: {failure['error']}", err=True)
    if errors:
        raise typer.Exit(EXIT_PARTIAL)


def _state(name: str) -> JobState:
    try:
        return JobState(name.strip().lower())
    except ValueError:
        fail(f"--state: unknown job state {name!r}; use one of {STATE_NAMES}")


def _state_text(job: Job, now: datetime) -> str:
    return f"{job.state} (lease expired)" if job.lease_expired(now) else str(job.state)


def _json(job: Job, now: datetime) -> dict[str, object]:
    return {**job.as_dict(), "lease_expired": job.lease_expired(now)}


def _moment(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value is not None else "-"


def _first_line(text: str | None) -> str:
    """The line of an error that says what failed (a traceback's last), shortened."""
    if not text:
        return ""
    line = text.strip().splitlines()[-1]
    return line if len(line) <= 60 else line[:59] + "…"


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="jobs")
