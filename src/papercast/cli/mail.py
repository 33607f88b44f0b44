"""`papercast mail`: queue a test message, send the outbox now, and see what was sent or failed."""

from __future__ import annotations

import json
from datetime import datetime

import typer

from papercast.cli.context import EXIT_PARTIAL, fail, papercast_app
from papercast.domain.mail import MailRequest, OutboxState
from papercast.services.mail import SendReport
from papercast.storage.outbox import OutboxEvent, OutboxRecord

app = typer.Typer(help="Mail: test the set-up, send the outbox, list and show messages.",
                  no_args_is_help=True)
STATES = tuple(state.value for state in OutboxState)
SEND_NOW_MAX = 100


@app.command("test")
def test(
    address: str = typer.Argument(..., help="Where the test message goes."),
    send: bool = typer.Option(False, "--send", help="Also send what is due now (up to 100 messages, "
                                                    "this one last), instead of leaving it to the worker."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Queue a test message to ADDRESS, to check that mail from papercast arrives."""
    with papercast_app() as papercast:
        queue = papercast.mail_queue()
        queued_at = papercast.clock.now().strftime("%Y-%m-%d %H:%M:%S UTC")
        queued = queue.submit(MailRequest(to=address, template="test", context={"queued_at": queued_at}))
        if queued is None:  # only a Message-ID collision, which a random token makes all but impossible
            fail("the test message was not queued: its Message-ID is taken; try again")
        # Older due messages go first: the sender takes the outbox in order, as the worker would.
        report = papercast.outbox_sender().send_due(SEND_NOW_MAX) if send else None
        record, _ = papercast.mail_outbox().get(queued.outbox_id)
    if as_json:
        typer.echo(json.dumps({**_record_json(record), "send": report.as_dict() if report else None}))
    else:
        typer.echo(f"queued message {record.id} to {record.recipient} ({record.message_id})")
        if report is not None:
            typer.echo(_outcome_line(record))
    if send and record.state != OutboxState.SENT:
        raise typer.Exit(EXIT_PARTIAL)


@app.command("send")
def send(
    max_messages: int = typer.Option(SEND_NOW_MAX, "--max", min=1, help="Send at most this many messages."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Send the messages that are due now (what the worker does), then say what happened."""
    with papercast_app() as papercast:
        report = papercast.outbox_sender().send_due(max_messages)
    report_sending(report, report.as_dict() if as_json else None)


def report_sending(report: SendReport, as_json: dict[str, object] | None) -> None:
    """Print what a send run did (`as_json`: that object), and exit 1 when a message failed or
    the run stopped early (`mail send`, `digests send`)."""
    if as_json is not None:
        typer.echo(json.dumps(as_json))
    else:
        typer.echo(f"{report.sent} sent, {report.retrying} to retry, {report.failed} failed, "
                   f"{report.expired} expired, {report.possible_duplicates} possibly sent twice")
        if report.stopped:
            typer.echo(f"stopped early: {report.stopped}", err=True)
    if report.failed or report.stopped:
        raise typer.Exit(EXIT_PARTIAL)


@app.command("list")
def list_messages(
    state: str | None = typer.Option(None, "--state",
                                     help=f"Only messages in this state: {', '.join(STATES)}."),
    limit: int = typer.Option(50, "--limit", min=1, help="At most this many, newest first."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """The newest outbox messages, with their state, attempts and last error."""
    if state is not None and state not in STATES:
        raise typer.BadParameter(f"{state!r} is not one of {', '.join(STATES)}", param_hint="--state")
    with papercast_app() as papercast:
        outbox = papercast.mail_outbox()
        records, counts = outbox.recent(state, limit), outbox.state_counts()
    if as_json:
        typer.echo(json.dumps({"counts": counts, "messages": [_record_json(r) for r in records]}))
        return
    typer.echo(", ".join(f"{count} {name}" for name, count in counts.items()))
    for record in records:
        error = f"  {record.last_error}" if record.last_error and record.state != OutboxState.SENT else ""
        typer.echo(f"{record.id:>6}  {record.state:<8} {record.attempts:>2}  {_when(record.created_at)}  "
                   f"{record.recipient}  {record.subject}{error}")


@app.command("show")
def show(
    outbox_id: int = typer.Argument(..., metavar="ID", help="The message's number (from `mail list`)."),
    raw: bool = typer.Option(False, "--raw", help="Print the message itself, as it is sent."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """One outbox message with every state change it went through."""
    with papercast_app() as papercast:
        outbox = papercast.mail_outbox()
        if raw:
            typer.echo(outbox.message_text(outbox_id).replace("\r\n", "\n"), nl=False)
            return
        record, events = outbox.get(outbox_id)
    if as_json:
        typer.echo(json.dumps({**_record_json(record), "events": [_event_json(e) for e in events]}))
        return
    typer.echo(f"message {record.id}: {record.state} after {record.attempts} attempt(s)")
    for label, value in (("to", record.recipient), ("subject", record.subject),
                         ("message-id", record.message_id), ("kind", record.kind),
                         ("queued", _when(record.created_at)),
                         ("next attempt", _when(record.next_attempt_at) if record.state == "queued" else ""),
                         ("not after", _when(record.not_after)), ("sent", _when(record.sent_at)),
                         ("last error", record.last_error or "")):
        if value:
            typer.echo(f"{label + ':':<14}{value}")
    for event in events:
        code = f" [{event.smtp_code}]" if event.smtp_code else ""
        typer.echo(f"  {_when(event.at)}  {event.from_state or '-':>7} -> {event.to_state:<8}{code} "
                   f"{event.detail}")


def _outcome_line(record: OutboxRecord) -> str:
    if record.state == OutboxState.SENT:
        return f"sent: {record.last_smtp_code or ''} accepted"
    if record.state == OutboxState.QUEUED:
        return f"not sent yet, will retry at {_when(record.next_attempt_at)}: {record.last_error}"
    if record.state == OutboxState.SENDING:
        return "another sender is sending it"
    return f"{record.state}: {record.last_error}"


def _record_json(record: OutboxRecord) -> dict[str, object]:
    return {"id": record.id, "kind": record.kind, "message_id": record.message_id, "to": record.recipient,
            "subject": record.subject, "state": record.state, "attempts": record.attempts,
            "next_attempt_at": _iso(record.next_attempt_at), "not_after": _iso(record.not_after),
            "last_smtp_code": record.last_smtp_code, "last_error": record.last_error,
            "created_at": _iso(record.created_at), "sent_at": _iso(record.sent_at)}


def _event_json(event: OutboxEvent) -> dict[str, object]:
    return {"at": _iso(event.at), "from": event.from_state, "to": event.to_state, "attempt": event.attempt,
            "smtp_code": event.smtp_code, "detail": event.detail}


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else ""


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="mail")

