"""`papercast harvest`: pull papers live from arXiv (OAI-PMH, query API) and Hugging Face."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date

import typer

from papercast.bootstrap import Papercast
from papercast.cli.context import EXIT_PARTIAL, papercast_app
from papercast.domain.errors import InvalidInput
from papercast.domain.ingest import IngestReport
from papercast.ports import HarvestPage, PagedSource
from papercast.services.harvest import HarvestReport
from papercast.sources.http import PoliteHttpClient
from papercast.sources.remote import METADATA_PREFIXES, ArxivApiHarvest, HfDailyHarvest, OaiHarvest

app = typer.Typer(help="Harvest papers from remote sources (polite: one request every 3 s).",
                  no_args_is_help=True)

_BASE_URL = typer.Option(None, "--base-url", help="Endpoint to use instead of the configured one.")
_MAX_PAGES = typer.Option(None, "--max-pages", min=1, help="Stop after this many pages (resume later).")
_RESTART = typer.Option(False, "--restart", help="Ignore the stored cursor and start over.")
_JSON = typer.Option(False, "--json", help="Print one JSON report on stdout.")


@app.command("arxiv")
def harvest_arxiv(
    set_spec: str = typer.Option("", "--set", help="OAI-PMH set, e.g. cs or physics:hep-th."),
    from_date: str = typer.Option("", "--from", help="First datestamp (YYYY-MM-DD)."),
    until_date: str = typer.Option("", "--until", help="Last datestamp (YYYY-MM-DD)."),
    metadata_prefix: str = typer.Option("arXivRaw", "--metadata-prefix",
                                        help=f"One of {', '.join(METADATA_PREFIXES)}."),
    base_url: str | None = _BASE_URL, max_pages: int | None = _MAX_PAGES, restart: bool = _RESTART,
    as_json: bool = _JSON,
) -> None:
    """Harvest arXiv's OAI-PMH, following resumption tokens; the next run continues from the cursor."""
    _harvest(lambda papercast, client: OaiHarvest(
        client, base_url or papercast.settings.oai_base_url, set_spec, from_date, until_date, metadata_prefix,
    ), max_pages, restart, as_json)


@app.command("arxiv-api")
def harvest_arxiv_api(
    query: str = typer.Option("", "--query", help="arXiv search_query, e.g. cat:cs.LG AND ti:attention."),
    id_list: str = typer.Option("", "--id-list", help="Comma-separated arXiv ids."),
    page_size: int = typer.Option(100, "--page-size", help="Results per request (at most 2000)."),
    max_results: int = typer.Option(1000, "--max-results", help="Results in all (at most 30000)."),
    base_url: str | None = _BASE_URL, max_pages: int | None = _MAX_PAGES, restart: bool = _RESTART,
    as_json: bool = _JSON,
) -> None:
    """Harvest results of an arXiv query-API search or id list."""
    _harvest(lambda papercast, client: ArxivApiHarvest(
        client, base_url or papercast.settings.arxiv_api_url, query, id_list, page_size, max_results,
    ), max_pages, restart, as_json)


@app.command("hf-daily")
def harvest_hf_daily(
    day: str = typer.Option("", "--date", help="One day (YYYY-MM-DD); default today."),
    from_date: str = typer.Option("", "--from", help="First day of a range."),
    until_date: str = typer.Option("", "--until", help="Last day of a range (default: --from)."),
    base_url: str | None = _BASE_URL, max_pages: int | None = _MAX_PAGES, restart: bool = _RESTART,
    as_json: bool = _JSON,
) -> None:
    """Harvest Hugging Face daily papers (with their upvotes) for a day or a range of days."""
    def source(papercast: Papercast, client: PoliteHttpClient) -> PagedSource:
        first, last = _day_range(day, from_date, until_date, papercast.clock.now().date())
        return HfDailyHarvest(client, base_url or papercast.settings.hf_daily_url, first, last)

    _harvest(source, max_pages, restart, as_json)


def _harvest(make_source: Callable[[Papercast, PoliteHttpClient], PagedSource], max_pages: int | None,
             restart: bool, as_json: bool) -> None:
    """Build the source with a polite client, harvest it, close the client, report."""
    with papercast_app() as papercast:
        client = papercast.http_client()
        try:
            report = _run(papercast, make_source(papercast, client), max_pages, restart, as_json)
        finally:
            client.close()
    _finish(report, as_json)


def _day_range(day: str, from_date: str, until_date: str, today: date) -> tuple[date, date]:
    if day and (from_date or until_date):
        raise InvalidInput("give --date or --from/--until, not both", field="date")
    try:
        if day:
            return date.fromisoformat(day), date.fromisoformat(day)
        if from_date:
            first = date.fromisoformat(from_date)
            return first, date.fromisoformat(until_date) if until_date else first
    except ValueError as error:
        raise InvalidInput(f"dates look like 2026-06-12: {error}", field="date") from error
    if until_date:
        raise InvalidInput("--until needs --from", field="until")
    return today, today


def _run(papercast: Papercast, source: PagedSource, max_pages: int | None, restart: bool,
         as_json: bool) -> HarvestReport:
    def show(page: HarvestPage, running: IngestReport) -> None:
        if not as_json:
            typer.echo(f"  page {page.description}: {len(page.items)} records, {running.new} new so far",
                       err=True)

    return papercast.harvest.harvest(source, max_pages=max_pages, restart=restart, on_page=show)


def _finish(report: HarvestReport, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(report.as_dict(), ensure_ascii=False))
    else:
        ingest = report.ingest
        state = "complete" if report.complete else "stopped; the next run resumes from the cursor"
        resumed = " (resumed from stored cursor)" if report.resumed else ""
        typer.echo(f"{report.pages} pages{resumed}, {state}: {ingest.new} new, {ingest.updated} updated, "
                   f"{ingest.unchanged} unchanged, {ingest.rejected} rejected")
        for rejection in ingest.rejections:
            typer.echo(f"  rejected {rejection.location}: {rejection.reason}", err=True)
    if report.ingest.rejected:
        raise typer.Exit(EXIT_PARTIAL)
