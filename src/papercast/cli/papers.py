"""`papercast papers show` and `papercast status`: read the catalog from the command line."""

from __future__ import annotations

import json

import typer

from papercast.cli.context import papercast_app
from papercast.domain.papers import Paper
from papercast.presenters import paper_as_json

app = typer.Typer(help="Papers in the catalog.", no_args_is_help=True)


@app.command("show")
def show(paper_id: str = typer.Argument(..., metavar="ID", help="arXiv id in any spelling, or a local id."),
         as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Print one paper."""
    with papercast_app() as papercast:
        paper = papercast.catalog.paper(paper_id)
    if as_json:
        typer.echo(json.dumps(paper_as_json(paper), ensure_ascii=False, indent=2))
        return
    typer.echo(_paper_text(paper))


def _paper_text(paper: Paper) -> str:
    lines = [f"{paper.paper_id}  {paper.title}"]
    if paper.withdrawn:
        lines.append("WITHDRAWN")
    if paper.authors:
        lines.append("authors:    " + ", ".join(a.name for a in paper.authors))
    if paper.categories:
        lines.append("categories: " + " ".join(paper.categories))
    for version in paper.versions:
        when = version.submitted_at.strftime("%Y-%m-%d %H:%M UTC") if version.submitted_at else "date unknown"
        lines.append(f"v{version.number}:         {when}")
    for label, value in (("comments:", paper.comments), ("journal:", paper.journal_ref),
                         ("doi:", paper.doi), ("license:", paper.license)):
        if value:
            lines.append(f"{label:<12}{value}")
    for signal in paper.signals:
        lines.append(f"{signal.source}:   {signal.upvotes} upvotes, {signal.comments} comments")
    lines.append(f"sources:    {' '.join(paper.sources)}")
    if paper.abstract:
        lines.extend(["", paper.abstract])
    return "\n".join(lines)


def register(root: typer.Typer) -> None:
    @root.command("status")
    def status() -> None:
        """Say what the catalog holds and how to query it."""
        with papercast_app() as papercast:
            stats = papercast.catalog.stats()
            database = papercast.engine.url.render_as_string(hide_password=True)
        typer.echo(f"papercast catalog: {stats.papers} papers in {database}")
        typer.echo("try: papercast papers show seed-001    (or any arXiv id, e.g. 1810.04805)")
        typer.echo("     papercast ingest FILE...           (snapshot, OAI-PMH, API Atom, RSS, HF daily)")
        typer.echo("     papercast harvest arxiv --set cs    (live OAI-PMH harvest)")
