"""`papercast db`: migrate the schema, check it against the code, show where it stands."""

from __future__ import annotations

import typer

from papercast.bootstrap import database_engine
from papercast.cli.context import fail, load_settings, user_errors
from papercast.storage import migrations

app = typer.Typer(help="Database schema: upgrade, check, status.", no_args_is_help=True)


@app.command("upgrade")
def upgrade(revision: str = typer.Argument("head", help="Target revision.")) -> None:
    """Migrate the database to the newest schema (or REVISION)."""
    settings = load_settings()
    engine = database_engine(settings)
    with user_errors():
        before, after = migrations.upgrade(engine, revision)
    engine.dispose()
    if before == after:
        typer.echo(f"database already at {after}")
    else:
        typer.echo(f"database upgraded from {before or 'empty'} to {after}")


@app.command("check")
def check() -> None:
    """Fail when the migrations and the tables in code disagree (run after `db upgrade`)."""
    settings = load_settings()
    engine = database_engine(settings)
    with user_errors():
        migrations.require_current(engine)
        differences = migrations.drift(engine)
    engine.dispose()
    if differences:
        for difference in differences:
            typer.echo(f"drift: {difference}", err=True)
        fail(f"{len(differences)} difference(s) between the tables in code and the migrations; "
             "write a migration")
    typer.echo(f"schema at {migrations.head_revision()}, models and migrations agree")


@app.command("status")
def status() -> None:
    """Show the database's schema revision and the newest one this code knows."""
    settings = load_settings()
    engine = database_engine(settings)
    with user_errors():
        current = migrations.current_revision(engine)
    engine.dispose()
    head = migrations.head_revision()
    state = "current" if current == head else "out of date: run `papercast db upgrade`"
    typer.echo(f"database: {engine.url.render_as_string(hide_password=True)}")
    typer.echo(f"revision: {current or 'none'} (head {head}, {state})")
