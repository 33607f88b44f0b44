"""`papercast subscribers`: digest subscribers for operators: import a consented list (JSON lines
or CSV), list them, remove an address and its personal data."""

from __future__ import annotations

import io
import json
from datetime import datetime
from pathlib import Path

import typer

from papercast.cli.context import EXIT_PARTIAL, fail, papercast_app
from papercast.domain.subscriber_imports import FORMATS, ImportReport, format_of, read_rows
from papercast.domain.subscriptions import Subscriber, SubscriberState

app = typer.Typer(help="Digest subscribers: import a consented list, list, remove.", no_args_is_help=True)

JSON_OPTION = typer.Option(False, "--json", help="Print JSON.")
MAX_FILE_BYTES = 512 * 2**20  # read whole (to check its encoding first); a list is far smaller


@app.command("import")
def import_subscribers(
        path: Path = typer.Argument(..., help="JSON lines or CSV: email, name, topics, frequency, send_hour, "
                                              "time_zone, consented_at (CSV topics separated by ;)."),
        file_format: str | None = typer.Option(None, "--format", help="jsonl or csv (default: by the file's "
                                                               "extension, else its first character)."),
        as_json: bool = JSON_OPTION) -> None:
    """Import subscribers whose consent was given elsewhere: they are confirmed, their consent
    time kept. An address already here is updated; one that unsubscribed here is refused. Bad
    rows are refused by line (exit status 1); the others are imported."""
    text = _read_text(path)
    chosen = (file_format or format_of(path.name, text[:64])).lower()
    if chosen not in FORMATS:
        fail(f"--format must be one of {', '.join(FORMATS)}, not {chosen!r}")
    with papercast_app() as papercast:
        service = papercast.subscriptions()
        rows = read_rows(io.StringIO(text, newline=""), chosen, papercast.clock.now())
        report = service.import_subscribers(rows)
    _print_report(report, as_json)
    if report.rejections:
        raise typer.Exit(EXIT_PARTIAL)


def _read_text(path: Path) -> str:
    try:
        with path.open("rb") as file:
            data = file.read(MAX_FILE_BYTES + 1)
    except OSError as error:
        fail(f"cannot read {path}: {error.strerror or error}")
    if len(data) > MAX_FILE_BYTES:
        fail(f"{path} is larger than {MAX_FILE_BYTES // 2**20} MiB; split it")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        fail(f"{path} line {line}: not UTF-8 (byte {error.start}); save the file as UTF-8 and try again")


def _print_report(report: ImportReport, as_json: bool) -> None:
    rejections = [{"location": item.location, "reason": item.reason} for item in report.rejections]
    if as_json:
        typer.echo(json.dumps({"added": report.added, "updated": report.updated,
                               "rejected": len(rejections), "rejections": rejections}, ensure_ascii=False))
        return
    typer.echo(f"{report.added} added, {report.updated} updated, {len(rejections)} rejected")
    for item in rejections:
        typer.echo(f"  rejected {item['location']}: {item['reason']}", err=True)


@app.command("list")
def list_subscribers(state: str | None = typer.Option(None, "--state", help="Only this state: unconfirmed, "
                                                     "confirmed, paused, unsubscribed, suppressed."),
                     as_json: bool = JSON_OPTION) -> None:
    """Subscribers with an address, oldest first."""
    states = [_state(state)] if state else []
    with papercast_app() as papercast:
        found = papercast.subscriptions().list(states)
    if as_json:
        typer.echo(json.dumps({"subscribers": [_json(item) for item in found]}, ensure_ascii=False, indent=2))
        return
    if not found:
        typer.echo("no subscribers")
        return
    typer.echo(f"{'id':>6}  {'state':<12} {'how':<7} {'when (local)':<24} {'topics':>6}  "
               f"{'since (UTC)':<16}  email")
    for item in found:
        chosen = item.preferences
        when = f"{chosen.frequency.value[0]} {chosen.send_hour:02d}:00 {chosen.time_zone}"
        typer.echo(f"{item.id:>6}  {item.state.value:<12} {item.source:<7} {when[:24]:<24} "
                   f"{len(chosen.topics):>6}  {_when(item.created_at):<16}  {item.email}")


@app.command("remove")
def remove(email: str = typer.Argument(..., help="The subscriber's address."),
           as_json: bool = JSON_OPTION) -> None:
    """Remove a subscriber's personal data: address, name, topics, links and mail to it. Nothing
    more is sent to it; it may subscribe again. An unknown address exits 1."""
    with papercast_app() as papercast:
        removed = papercast.subscriptions().remove(email)
    if as_json:
        typer.echo(json.dumps({"removed": removed.email, "id": removed.id}))
    else:
        typer.echo(f"removed {removed.email} (subscriber {removed.id})")


def _state(text: str) -> SubscriberState:
    try:
        return SubscriberState(text.strip().lower())
    except ValueError:
        fail(f"--state must be one of {', '.join(state.value for state in SubscriberState)}, not {text!r}")


def _json(item: Subscriber) -> dict[str, object]:
    chosen = item.preferences
    return {"id": item.id, "email": item.email, "name": item.name, "state": item.state.value,
            "source": item.source, "user_id": item.user_id, "topics": list(chosen.topics),
            "frequency": chosen.frequency.value, "send_hour": chosen.send_hour,
            "time_zone": chosen.time_zone,
            "created_at": item.created_at.isoformat(), "confirmed_at": _iso(item.confirmed_at),
            "consented_at": _iso(item.consented_at), "unsubscribed_at": _iso(item.unsubscribed_at),
            "suppressed_at": _iso(item.suppressed_at), "reason": item.state_reason}


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="subscribers")
