"""`papercast trending`: the trending list as the home page shows it, the parameters in force,
and scoring every paper again after the weights or tau changed."""

from __future__ import annotations

import json

import typer

from papercast.cli.context import papercast_app
from papercast.presenters import standing_json

app = typer.Typer(help="Trending papers: list, status, rescore.", no_args_is_help=True)


@app.command("list")
def list_trending(window: str = typer.Option("trending", help="trending, today, week or month."),
                  limit: int = typer.Option(20, min=1, max=100, help="How many papers."),
                  as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """The papers at the top of a trending list, with their points."""
    with papercast_app() as papercast:
        page = papercast.trending.listing(window, 0, limit)
    if as_json:
        typer.echo(json.dumps({"window": page.window.value, "total": page.total, "results": [
            {"id": entry.paper.paper_id, "title": entry.paper.title, **standing_json(entry.standing),
             "score": entry.standing.score} for entry in page.entries]}, ensure_ascii=False))
        return
    if not page.entries:
        typer.echo("no papers in this list")
    for rank, entry in enumerate(page.entries, start=1):
        typer.echo(f"{rank:>3}. {entry.standing.shown_points:>7} points  {entry.paper.paper_id:<16} "
                   f"{entry.paper.title[:70]}")


@app.command("status")
def status(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """The weights and tau in force, and whether the stored scores were made with them."""
    with papercast_app() as papercast:
        current = papercast.trending.scores_are_current()
        parameters = papercast.trending.parameters.describe()
    if as_json:
        typer.echo(json.dumps({"parameters": parameters, "scores_current": current}))
        return
    typer.echo("parameters: " + ", ".join(f"{name} {value:g}" for name, value in parameters.items()))
    typer.echo("scores: current" if current else
               "scores: made with other parameters; the worker scores them again within a minute, "
               "or run `papercast trending rescore`")


@app.command("rescore")
def rescore() -> None:
    """Score every paper again with the parameters in force (in batches; votes go on meanwhile)."""
    with papercast_app() as papercast:
        done = papercast.trending.rescore()
    typer.echo(f"scored {done:,} papers again")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="trending")
