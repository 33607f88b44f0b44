"""`papercast config`: show the settings in force, and generate their documentation."""

from __future__ import annotations

import typer

from papercast.cli.context import load_settings
from papercast.settings import configuration_markdown

app = typer.Typer(help="Settings: show values in force, generate docs.", no_args_is_help=True)


@app.command("show")
def show() -> None:
    """Print every setting in force, secrets redacted."""
    for name, value in load_settings().redacted().items():
        typer.echo(f"{name}={value}")


@app.command("docs")
def docs() -> None:
    """Print docs/configuration.md, generated from the settings table."""
    typer.echo(configuration_markdown(), nl=False)
