"""`papercast users`: readers' accounts for operators: add, list, disable, enable, and a sign-in
link printed instead of mailed (a one-person install needs no mail set up)."""

from __future__ import annotations

import json
from datetime import datetime

import typer

from papercast.cli.context import papercast_app
from papercast.domain.accounts import User, UserState

app = typer.Typer(help="Readers' accounts: add, list, disable, enable, print a sign-in link.",
                  no_args_is_help=True)

JSON_OPTION = typer.Option(False, "--json", help="Print JSON.")


@app.command("add")
def add(email: str = typer.Argument(..., help="The reader's address."),
        admin: bool = typer.Option(False, "--admin", help="Make the account an operator's."),
        as_json: bool = JSON_OPTION) -> None:
    """Add an account (readers can also make their own by signing in, unless sign-up is closed)."""
    with papercast_app() as papercast:
        user = papercast.accounts().add_user(email, is_admin=admin)
    _print_user(user, as_json, "added")


@app.command("list")
def list_users(as_json: bool = JSON_OPTION) -> None:
    """Every account that is not deleted, oldest first."""
    with papercast_app() as papercast:
        found = papercast.accounts().list_users()
    if as_json:
        typer.echo(json.dumps({"users": [_json(user) for user in found]}, indent=2))
        return
    if not found:
        typer.echo("no accounts")
        return
    typer.echo(f"{'id':>6}  {'state':<9} {'admin':<5}  {'created (UTC)':<16}  {'last sign-in':<16}  email")
    for user in found:
        typer.echo(f"{user.id:>6}  {user.state.value:<9} {'yes' if user.is_admin else '':<5}  "
                   f"{_when(user.created_at):<16}  {_when(user.last_sign_in_at):<16}  {user.email}")


@app.command("disable")
def disable(email: str = typer.Argument(..., help="The account's address."),
            as_json: bool = JSON_OPTION) -> None:
    """Stop an account: its sessions end now, its API tokens and sign-in stop working, and its
    votes stop counting (they are kept: `enable` brings them back)."""
    with papercast_app() as papercast:
        user = papercast.accounts().set_state(email, UserState.DISABLED)
    _print_user(user, as_json, "disabled")


@app.command("enable")
def enable(email: str = typer.Argument(..., help="The account's address."),
           as_json: bool = JSON_OPTION) -> None:
    """Let a disabled account in again."""
    with papercast_app() as papercast:
        user = papercast.accounts().set_state(email, UserState.ACTIVE)
    _print_user(user, as_json, "enabled")


@app.command("login-link")
def login_link(email: str = typer.Argument(..., help="An existing, active account's address."),
               as_json: bool = JSON_OPTION) -> None:
    """Print a sign-in link for an account instead of mailing it. Built from PAPERCAST_BASE_URL;
    it works once, for PAPERCAST_SIGN_IN_LINK_MINUTES."""
    with papercast_app() as papercast:
        url = papercast.settings.public_base_url + papercast.accounts().login_link(email)
        minutes = papercast.settings.sign_in_link_minutes
    if as_json:
        typer.echo(json.dumps({"url": url, "minutes": minutes}))
        return
    typer.echo(url)
    typer.echo(f"(works once, for {minutes} minutes: open it and press the button)", err=True)


def _print_user(user: User, as_json: bool, verb: str) -> None:
    if as_json:
        typer.echo(json.dumps(_json(user)))
    else:
        typer.echo(f"{verb} {user.email} (account {user.id}{', operator' if user.is_admin else ''})")


def _json(user: User) -> dict[str, object]:
    return {"id": user.id, "email": user.email, "state": user.state.value, "is_admin": user.is_admin,
            "created_at": user.created_at.isoformat(),
            "last_sign_in_at": user.last_sign_in_at.isoformat() if user.last_sign_in_at else None}


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if moment else ""


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="users")
