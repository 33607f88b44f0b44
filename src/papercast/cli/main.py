"""The `papercast` command: assembles the command families into one Typer app."""

from __future__ import annotations

import typer

from papercast.cli import config as config_commands
from papercast.cli import db as db_commands
from papercast.cli import digests as digest_commands
from papercast.cli import embed as embed_commands
from papercast.cli import harvest as harvest_commands
from papercast.cli import index as index_commands
from papercast.cli import ingest as ingest_commands
from papercast.cli import jobs as job_commands
from papercast.cli import mail as mail_commands
from papercast.cli import papers as paper_commands
from papercast.cli import recommendations as recommendation_commands
from papercast.cli import search as search_commands
from papercast.cli import serve as serve_commands
from papercast.cli import subscribers as subscriber_commands
from papercast.cli import trending as trending_commands
from papercast.cli import users as user_commands
from papercast.cli import worker as worker_commands
from papercast.cli.context import PapercastGroup, configure_logging, guarded, load_settings

app = typer.Typer(
    name="papercast",
    cls=PapercastGroup,
    help="papercast: ingest, search and follow research papers on your own machine.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(db_commands.app, name="db")
app.add_typer(config_commands.app, name="config")
app.add_typer(paper_commands.app, name="papers")
app.add_typer(harvest_commands.app, name="harvest")
ingest_commands.register(app)
paper_commands.register(app)
serve_commands.register(app)
embed_commands.register(app)
search_commands.register(app)
recommendation_commands.register(app)
index_commands.register(app)
mail_commands.register(app)
worker_commands.register(app)
job_commands.register(app)
user_commands.register(app)
subscriber_commands.register(app)
trending_commands.register(app)
digest_commands.register(app)


@app.callback()
def _main() -> None:
    configure_logging(load_settings())


def run() -> None:
    guarded(lambda: app(prog_name="papercast"))
