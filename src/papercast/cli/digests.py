"""`papercast digests`: preview a subscriber's digest, plan the digests that are due, send them,
and count a period's deliveries per state. `--at` stands for the current time (catching up after
downtime, tests); without it, now."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email import message_from_string, policy

import typer

from papercast.cli.context import papercast_app
from papercast.cli.mail import report_sending
from papercast.clock import ShiftedClock
from papercast.services.mail import SendReport

app = typer.Typer(help="Digests: preview, plan, send, status.", no_args_is_help=True)
SEND_SLICE = 100
AT_HELP = "The time to act at, ISO 8601 (2026-12-03T08:00:00Z; no zone means UTC). Default: now."


def parse_at(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as error:
        raise typer.BadParameter(f"{text!r} is not a time like 2026-12-03T08:00:00Z",
                                 param_hint="--at") from error
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


@app.command("preview")
def preview(email: str = typer.Argument(..., help="The subscriber's address."),
            at: str | None = typer.Option(None, "--at", help=AT_HELP),
            html: bool = typer.Option(False, "--html", help="Print the HTML part instead of the text."),
            ) -> None:
    """Render EMAIL's digest for the period at --at without sending or recording anything."""
    moment = parse_at(at)
    with papercast_app(ShiftedClock(moment) if moment else None) as papercast:
        shown = papercast.digests().preview(email, moment)
    parsed = message_from_string(shown.mail.message, policy=policy.default)
    part = parsed.get_body(("html",) if html else ("plain",))
    typer.echo(f"Subject: {shown.mail.subject}", err=True)
    typer.echo(part.get_content() if part is not None else "")


@app.command("plan")
def plan(at: str | None = typer.Option(None, "--at", help=AT_HELP),
         as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Queue every digest due at --at: the subscriber's send hour on their local date has come and
    that period has no digest yet (what the worker runs every PAPERCAST_DIGEST_PLAN_MINUTES)."""
    moment = parse_at(at)
    with papercast_app(ShiftedClock(moment) if moment else None) as papercast:
        report = papercast.digests().plan(moment)
    if as_json:
        typer.echo(json.dumps(report.as_dict()))
        return
    typer.echo(f"{report.queued} queued, {report.skipped_empty} skipped (nothing new), "
               f"{report.already} planned meanwhile elsewhere; {report.settled} outcomes recorded, "
               f"{report.suppressed} addresses suppressed")
    if report.failed:
        typer.echo(f"{report.failed} digests could not be built now (see the log); the next run tries "
                   "them again", err=True)


@app.command("send")
def send(at: str | None = typer.Option(None, "--at", help=AT_HELP),
         as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Send every message that is due (digests and any other mail), then record the digests'
    outcomes and exit."""
    moment = parse_at(at)
    total = SendReport()
    with papercast_app(ShiftedClock(moment) if moment else None) as papercast:
        sender = papercast.outbox_sender()
        while True:
            report = sender.send_due(SEND_SLICE)
            _add(total, report)
            if report.stopped or report.handled + report.expired == 0:
                break
        settled = papercast.digests().settle()
    report_sending(total, {**total.as_dict(), "settled": settled} if as_json else None)


def _add(total: SendReport, report: SendReport) -> None:
    for name in ("sent", "retrying", "failed", "expired", "possible_duplicates"):
        setattr(total, name, getattr(total, name) + getattr(report, name))
    total.stopped = report.stopped or total.stopped


@app.command("status")
def status(period: str | None = typer.Option(None, "--period",
                                             help="A period: 2026-12-03, or 2026-W49 for weekly digests. "
                                                  "Default: the one planned last."),
           as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Deliveries of a period per state: queued, sending, sent, failed, expired, cancelled,
    skipped_empty."""
    with papercast_app() as papercast:
        chosen, counts = papercast.digests().status(period)
    if as_json:
        typer.echo(json.dumps({"period": chosen, "counts": counts}))
        return
    if chosen is None:
        typer.echo("no digest planned yet")
        return
    typer.echo(f"period {chosen}: " + ", ".join(f"{count} {state}" for state, count in counts.items()))


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="digests")
