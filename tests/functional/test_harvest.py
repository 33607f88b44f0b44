"""Harvests end to end: `build()`, the polite HTTP client and HarvestService against a real local
server that replays recorded arXiv OAI-PMH, arXiv API and Hugging Face responses.

Runs on SQLite and PostgreSQL (`database_url`). The OAI-PMH list used throughout is two pages:
page one is arXiv's real arXivRaw response that ends in the token `726959|1001` (6 records),
page two is a real last page without a token (46 cs records, in the `arXiv` format; the parser
takes each record by its own format, so mixing the two is harmless here).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from papercast.bootstrap import Papercast, build
from papercast.domain.errors import NotFound, SourceError
from papercast.services.harvest import HarvestReport
from papercast.settings import Settings
from papercast.sources.arxiv_api import parse_api_feed
from papercast.sources.remote import ArxivApiHarvest, HfDailyHarvest, OaiHarvest
from support.replay_server import (  # noqa: F401 - replay_server_fixture is the `replay_server` fixture
    HF_DAILY,
    OAI_INVENIO,
    OAI_SAELIM,
    ReplayServer,
    recorded_api,
    replay_server_fixture,
)

TOKEN = "726959|1001"
PAGE_ONE_IDS = ["0704.0471", "0704.0716", "0704.0874", "0704.1109", "0704.1114", "0704.1586"]
PAGE_TWO_SOME_IDS = ["1101.4388", "1306.5042", "1501.03810"]
PAGE_TWO_COUNT = 46
FIRST_REQUEST = {"verb": "ListRecords", "metadataPrefix": "arXivRaw", "set": "cs", "from": "2015-01-01"}
TOKEN_REQUEST = {"verb": "ListRecords", "resumptionToken": TOKEN}
FINISHED_CURSOR = {"from": "2015-01-06", "until": "", "resumption_token": ""}  # page one's responseDate
INTERVAL = 0.05


@pytest.fixture
def page_one(shared_data: Path) -> bytes:
    return (OAI_SAELIM / "ListRecordsResponse.xml").read_bytes()


@pytest.fixture
def page_two(shared_data: Path) -> bytes:
    return (OAI_INVENIO / "sample_arxiv_response_listrecords_cs.xml").read_bytes()


@pytest.fixture
def app(database_url: str, tmp_path: Path) -> Iterator[Papercast]:
    settings = Settings.load(env={}, data_dir=tmp_path / "data", database_url=database_url,
                             harvest_request_interval=INTERVAL, harvest_max_attempts=2,
                             harvest_backoff_initial=0.05, harvest_timeout=10.0)
    papercast = build(settings)
    yield papercast
    papercast.close()


def serve_oai(server: ReplayServer, first: bytes, second: bytes) -> None:
    """Page one for a fresh ListRecords, page two for the token."""
    server.route("/oai", {"verb": "ListRecords", "resumptionToken": None}, body=first)
    server.route("/oai", TOKEN_REQUEST, body=second)


def oai_source(app: Papercast, server: ReplayServer, from_date: str = "2015-01-01") -> OaiHarvest:
    return OaiHarvest(app.http_client(), server.url_for("/oai"), "cs", from_date, "", "arXivRaw")


def run(app: Papercast, source: OaiHarvest | ArxivApiHarvest | HfDailyHarvest,
        max_pages: int | None = None, restart: bool = False) -> HarvestReport:
    try:
        return app.harvest.harvest(source, max_pages=max_pages, restart=restart)
    finally:
        source.fetcher.close()  # type: ignore[union-attr]


def stored(app: Papercast, paper_id: str) -> bool:
    try:
        app.catalog.paper(paper_id)
    except NotFound:
        return False
    return True


# --- OAI-PMH ---------------------------------------------------------------------------------


@pytest.mark.parametrize("last_token", ["", '<resumptionToken cursor="6" completeListSize="52"/>'],
                         ids=["no-token", "empty-token"])
def test_oai_harvest_follows_the_resumption_token_to_the_last_page(
        app: Papercast, replay_server: ReplayServer, page_one: bytes, page_two: bytes,
        last_token: str) -> None:
    # OAI-PMH ends a list either without a token or with an empty one; both mean "last page".
    page_two = page_two.replace(b"</ListRecords>", last_token.encode() + b"</ListRecords>")
    serve_oai(replay_server, page_one, page_two)
    source = oai_source(app, replay_server)

    report = run(app, source)

    assert [r.params for r in replay_server.requests] == [FIRST_REQUEST, TOKEN_REQUEST]
    assert report.complete and not report.resumed and report.pages == 2
    assert (report.ingest.new, report.ingest.updated, report.ingest.rejected) == (6 + PAGE_TWO_COUNT, 0, 0)
    assert app.catalog.paper("0704.0716").title == "Limit distributions and scaling functions"
    assert [v.number for v in app.catalog.paper("0704.0716").versions] == [1, 2, 3, 4]
    assert all(stored(app, paper_id) for paper_id in PAGE_ONE_IDS + PAGE_TWO_SOME_IDS)
    assert app.catalog.stats().papers == 6 + PAGE_TWO_COUNT
    assert app.cursors.get_cursor(source.cursor_name()) == FINISHED_CURSOR
    assert report.cursor == FINISHED_CURSOR
    assert replay_server.gaps()[0] >= INTERVAL / 2  # the configured interval is in force (no spacing: ~1 ms)
    assert not replay_server.unmatched


def test_an_interrupted_oai_harvest_resumes_from_the_stored_token(
        app: Papercast, replay_server: ReplayServer, page_one: bytes, page_two: bytes) -> None:
    serve_oai(replay_server, page_one, page_two)

    first = run(app, oai_source(app, replay_server), max_pages=1)

    assert first.pages == 1 and not first.complete and first.ingest.new == 6
    source = oai_source(app, replay_server)
    assert app.cursors.get_cursor(source.cursor_name()) == {"from": "2015-01-01", "until": "",
                                                            "resumption_token": TOKEN,
                                                            "started": "2015-01-06"}
    assert all(stored(app, paper_id) for paper_id in PAGE_ONE_IDS)
    assert not any(stored(app, paper_id) for paper_id in PAGE_TWO_SOME_IDS)

    second = run(app, source)  # the same arguments again

    assert [r.params for r in replay_server.requests] == [FIRST_REQUEST, TOKEN_REQUEST]
    assert second.resumed and second.complete and second.pages == 1
    assert (second.ingest.new, second.ingest.unchanged) == (PAGE_TWO_COUNT, 0)
    assert all(stored(app, paper_id) for paper_id in PAGE_TWO_SOME_IDS)
    assert app.cursors.get_cursor(source.cursor_name()) == FINISHED_CURSOR


def test_rerunning_a_finished_oai_harvest_ingests_nothing_new(
        app: Papercast, replay_server: ReplayServer, page_one: bytes, page_two: bytes,
        shared_data: Path) -> None:
    serve_oai(replay_server, page_one, page_two)
    run(app, oai_source(app, replay_server))

    again = run(app, oai_source(app, replay_server))

    assert [r.params for r in replay_server.requests[2:]] == [FIRST_REQUEST, TOKEN_REQUEST]
    assert again.complete and not again.resumed
    assert (again.ingest.new, again.ingest.updated, again.ingest.unchanged) == (0, 0, 6 + PAGE_TWO_COUNT)
    assert app.catalog.stats().papers == 6 + PAGE_TWO_COUNT

    # Without --from, the next run is incremental: it asks from the day the last list began.
    replay_server.clear_routes()
    replay_server.route("/oai", {"from": "2015-01-06"},
                        body=(OAI_SAELIM / "ErrorResponseNoRecordsMatch.xml").read_bytes())
    incremental = run(app, oai_source(app, replay_server, from_date=""))

    assert replay_server.requests[-1].params == {"verb": "ListRecords", "metadataPrefix": "arXivRaw",
                                                 "set": "cs", "from": "2015-01-06"}
    assert incremental.complete and incremental.ingest.seen == 0
    assert app.catalog.stats().papers == 6 + PAGE_TWO_COUNT


def test_after_a_bounded_harvest_the_next_run_continues_from_until(
        app: Papercast, replay_server: ReplayServer, page_two: bytes, shared_data: Path) -> None:
    replay_server.route("/oai", {"until": "2015-01-18"}, body=page_two)  # answered 2016-01-18
    replay_server.route("/oai", body=(OAI_SAELIM / "ErrorResponseNoRecordsMatch.xml").read_bytes())
    bounded = OaiHarvest(app.http_client(), replay_server.url_for("/oai"), "cs", "2015-01-16", "2015-01-18")
    assert run(app, bounded).complete

    run(app, oai_source(app, replay_server, from_date=""))  # "catch up since last time"

    following = replay_server.requests[-1].params
    # Records datestamped 2015-01-19 .. 2016-01-17 must still be asked for.
    assert "until" not in following and following["from"] <= "2015-01-19", following


def test_an_expired_token_restarts_once_from_the_stored_from(
        app: Papercast, replay_server: ReplayServer, page_one: bytes, page_two: bytes) -> None:
    serve_oai(replay_server, page_one, page_two)
    run(app, oai_source(app, replay_server), max_pages=1)
    replay_server.clear_routes()
    replay_server.clear_log()
    replay_server.route("/oai", TOKEN_REQUEST, times=1,
                        body=(OAI_SAELIM / "ErrorResponseBadResumptionToken.xml").read_bytes())
    serve_oai(replay_server, page_one, page_two)

    report = run(app, oai_source(app, replay_server))

    assert [r.params for r in replay_server.requests] == [TOKEN_REQUEST, FIRST_REQUEST, TOKEN_REQUEST]
    assert report.resumed and report.complete
    assert report.pages == 3  # the restart, page one again, page two
    assert (report.ingest.new, report.ingest.unchanged) == (PAGE_TWO_COUNT, 6)
    assert app.catalog.stats().papers == 6 + PAGE_TWO_COUNT


def test_an_expired_token_is_forgotten_even_if_the_restart_then_fails(
        app: Papercast, replay_server: ReplayServer, page_one: bytes) -> None:
    """The restart is committed on its own: a run that fails right after it starts over next time."""
    serve_oai(replay_server, page_one, b"")
    run(app, oai_source(app, replay_server), max_pages=1)
    replay_server.clear_routes()
    replay_server.route("/oai", TOKEN_REQUEST, body=(OAI_SAELIM / "ErrorResponseBadResumptionToken.xml")
                        .read_bytes())
    replay_server.route("/oai", {"resumptionToken": None}, status=404, body=b"gone")
    source = oai_source(app, replay_server)

    with pytest.raises(SourceError, match="HTTP 404"):
        run(app, source)

    # The restart was committed: the next run starts over instead of replaying the dead token.
    assert app.cursors.get_cursor(source.cursor_name()) == {"from": "2015-01-01", "until": "",
                                                            "resumption_token": ""}


def test_a_server_that_rejects_every_token_fails_instead_of_looping(
        app: Papercast, replay_server: ReplayServer, page_one: bytes) -> None:
    replay_server.route("/oai", {"resumptionToken": None}, body=page_one)
    replay_server.route("/oai", TOKEN_REQUEST,
                        body=(OAI_SAELIM / "ErrorResponseBadResumptionToken.xml").read_bytes())

    with pytest.raises(SourceError) as caught:
        run(app, oai_source(app, replay_server), max_pages=8)

    assert caught.value.code == "badResumptionToken"
    # page one, bad token (restart), page one again, bad token again: give up.
    assert len(replay_server.requests) == 4


@pytest.mark.parametrize("response", [OAI_SAELIM / "ErrorResponseNoRecordsMatch.xml",
                                      OAI_INVENIO / "sample_empty_response.xml"],
                         ids=["saelim", "invenio"])
def test_no_records_match_completes_empty(app: Papercast, replay_server: ReplayServer,
                                          shared_data: Path, response: Path) -> None:
    replay_server.route("/oai", body=response.read_bytes())
    source = oai_source(app, replay_server)

    report = run(app, source)

    assert report.complete and report.pages == 1
    assert report.ingest.seen == 0 and not report.ingest.rejections
    assert app.catalog.stats().papers == 0
    assert app.cursors.get_cursor(source.cursor_name()) == {"from": "2015-01-01", "until": "",
                                                            "resumption_token": ""}


def test_other_oai_errors_fail_the_harvest(app: Papercast, replay_server: ReplayServer,
                                           shared_data: Path) -> None:
    replay_server.route("/oai", body=(OAI_SAELIM / "ErrorResponseBadArgument.xml").read_bytes())
    source = oai_source(app, replay_server)

    with pytest.raises(SourceError) as caught:
        run(app, source)

    assert caught.value.code == "badArgument" and "illegal argument" in str(caught.value)
    assert app.cursors.get_cursor(source.cursor_name()) is None


def test_a_truncated_page_stores_nothing_and_is_requested_again(
        app: Papercast, replay_server: ReplayServer, page_one: bytes, page_two: bytes) -> None:
    cut = page_two[: len(page_two) // 2]
    serve_oai(replay_server, page_one, cut)

    with pytest.raises(SourceError) as caught:
        run(app, oai_source(app, replay_server))

    assert caught.value.code == "malformed-xml"
    assert app.catalog.stats().papers == 6  # page one only
    assert not any(stored(app, paper_id) for paper_id in PAGE_TWO_SOME_IDS)
    source = oai_source(app, replay_server)
    assert app.cursors.get_cursor(source.cursor_name())["resumption_token"] == TOKEN  # not advanced

    replay_server.clear_routes()
    replay_server.clear_log()
    serve_oai(replay_server, page_one, page_two)
    report = run(app, source)

    assert [r.params for r in replay_server.requests] == [TOKEN_REQUEST]
    assert report.resumed and report.complete and report.ingest.new == PAGE_TWO_COUNT


def test_a_truncated_first_page_leaves_no_cursor(app: Papercast, replay_server: ReplayServer,
                                                 page_one: bytes) -> None:
    replay_server.route("/oai", body=page_one[:-200])
    source = oai_source(app, replay_server)

    with pytest.raises(SourceError):
        run(app, source)

    assert app.catalog.stats().papers == 0
    assert app.cursors.get_cursor(source.cursor_name()) is None


def test_a_connection_cut_mid_page_is_retried(app: Papercast, replay_server: ReplayServer,
                                              page_one: bytes, page_two: bytes) -> None:
    replay_server.route("/oai", TOKEN_REQUEST, body=page_two, truncate_at=len(page_two) // 2, times=1)
    serve_oai(replay_server, page_one, page_two)

    report = run(app, oai_source(app, replay_server))

    assert [r.params for r in replay_server.requests] == [FIRST_REQUEST, TOKEN_REQUEST, TOKEN_REQUEST]
    assert report.complete and report.ingest.new == 6 + PAGE_TWO_COUNT


# --- arXiv query API -------------------------------------------------------------------------


def serve_api_paging(server: ReplayServer) -> None:
    for start in (0, 10, 20, 30, 40, 50):
        recorded = recorded_api(f"q_testing_s{start}_m10_*")
        server.route("/api/query", {"search_query": "testing", "start": str(start), "max_results": "10"},
                     body=recorded.body)


def api_source(app: Papercast, server: ReplayServer, **options: object) -> ArxivApiHarvest:
    return ArxivApiHarvest(app.http_client(), server.url_for("/api/query"), **options)  # type: ignore[arg-type]


def api_ids(*starts: int) -> list[str]:
    return [item.paper_id for start in starts  # type: ignore[union-attr]
            for item in parse_api_feed(recorded_api(f"q_testing_s{start}_m10_*").body).items]


def test_api_harvest_pages_by_start_and_stops_at_max_results(
        app: Papercast, replay_server: ReplayServer, shared_data: Path) -> None:
    serve_api_paging(replay_server)
    source = api_source(app, replay_server, query="testing", page_size=10, max_results=30)

    report = run(app, source)

    assert [r.params["start"] for r in replay_server.requests] == ["0", "10", "20"]
    assert all(r.params == {"search_query": "testing", "start": r.params["start"], "max_results": "10",
                            "sortBy": "submittedDate", "sortOrder": "descending"}
               for r in replay_server.requests)
    assert report.complete and report.pages == 3
    assert report.ingest.new == 30 and not report.ingest.rejections
    assert all(stored(app, paper_id) for paper_id in api_ids(0, 10, 20))
    assert not any(stored(app, paper_id) for paper_id in api_ids(30))
    assert app.cursors.get_cursor(source.cursor_name()) == {"start": "30", "done": "1"}


def test_api_harvest_resumes_at_the_next_start(app: Papercast, replay_server: ReplayServer,
                                               shared_data: Path) -> None:
    serve_api_paging(replay_server)
    options = {"query": "testing", "page_size": 10, "max_results": 60}

    first = run(app, api_source(app, replay_server, **options), max_pages=2)
    second = run(app, api_source(app, replay_server, **options))

    assert not first.complete and first.ingest.new == 20
    assert second.resumed and second.complete and second.pages == 4 and second.ingest.new == 40
    assert [r.params["start"] for r in replay_server.requests] == ["0", "10", "20", "30", "40", "50"]
    assert app.catalog.stats().papers == 60


def test_resuming_with_a_smaller_max_results_never_asks_for_a_negative_count(
        app: Papercast, replay_server: ReplayServer, shared_data: Path) -> None:
    serve_api_paging(replay_server)
    run(app, api_source(app, replay_server, query="testing", page_size=10, max_results=60), max_pages=3)

    report = run(app, api_source(app, replay_server, query="testing", page_size=10, max_results=20))

    assert all(int(r.params["max_results"]) > 0 for r in replay_server.requests), \
        [r.params["max_results"] for r in replay_server.requests]
    assert report.complete


def test_api_error_feed_becomes_a_source_error_with_arxivs_message(
        app: Papercast, replay_server: ReplayServer, shared_data: Path) -> None:
    recorded = recorded_api("id_abc_*")
    assert recorded.status == 400
    replay_server.route("/api/query", {"id_list": "abc"}, status=recorded.status, body=recorded.body)
    source = api_source(app, replay_server, id_list="abc")

    with pytest.raises(SourceError) as caught:
        run(app, source)

    assert "incorrect id format for abc" in str(caught.value)
    assert caught.value.code == "arxiv-api-error"
    assert len(replay_server.requests) == 1  # a 400 is not retried
    assert app.cursors.get_cursor(source.cursor_name()) is None


@pytest.mark.parametrize("status", [404, 502])
def test_an_http_error_that_is_not_an_error_feed_keeps_its_status(
        app: Papercast, replay_server: ReplayServer, status: int) -> None:
    replay_server.route("/api/query", status=status, headers={"Content-Type": "text/html"},
                        body=b"<html><body><h1>Not Found</h1></body></html>")

    with pytest.raises(SourceError) as caught:
        run(app, api_source(app, replay_server, query="testing"))

    assert f"HTTP {status}" in str(caught.value), str(caught.value)


# --- Hugging Face daily papers ---------------------------------------------------------------


def test_hf_daily_stores_the_papers_with_their_upvotes(app: Papercast, replay_server: ReplayServer,
                                                       shared_data: Path) -> None:
    body = HF_DAILY.read_bytes()
    replay_server.route("/api/daily_papers", {"date": "2026-06-12"}, body=body,
                        headers={"Content-Type": "application/json"})
    day = date(2026, 6, 12)

    report = run(app, HfDailyHarvest(app.http_client(), replay_server.url_for("/api/daily_papers"), day, day))

    assert [r.params for r in replay_server.requests] == [{"date": "2026-06-12"}]
    assert report.complete and report.ingest.new == 30 and not report.ingest.rejections
    entries = json.loads(body)
    for entry in entries:
        paper = app.catalog.paper(entry["paper"]["id"])
        (signal,) = [s for s in paper.signals if s.source == "hf-daily"]
        assert signal.upvotes == entry["paper"]["upvotes"]
        assert signal.comments == entry["numComments"]
        assert signal.observed_on == day
    assert max(e["paper"]["upvotes"] for e in entries) == 118


def test_hf_daily_refreshes_upvotes_and_walks_a_range(app: Papercast, replay_server: ReplayServer,
                                                      shared_data: Path) -> None:
    entries = json.loads(HF_DAILY.read_bytes())
    replay_server.route("/api/daily_papers", {"date": "2026-06-12"}, body=json.dumps(entries), times=1)
    entries[0]["paper"]["upvotes"] += 40
    replay_server.route("/api/daily_papers", {"date": "2026-06-12"}, body=json.dumps(entries))
    replay_server.route("/api/daily_papers", {"date": "2026-06-13"}, body=b"[]")
    url = replay_server.url_for("/api/daily_papers")

    def source() -> HfDailyHarvest:
        return HfDailyHarvest(app.http_client(), url, date(2026, 6, 12), date(2026, 6, 13))

    first = run(app, source(), max_pages=1)
    again = run(app, source(), restart=True)

    assert not first.complete and first.ingest.new == 30
    assert again.complete and again.pages == 2
    assert (again.ingest.new, again.ingest.updated, again.ingest.unchanged) == (0, 1, 29)
    assert [r.params["date"] for r in replay_server.requests] == ["2026-06-12", "2026-06-12", "2026-06-13"]
    (signal,) = app.catalog.paper(entries[0]["paper"]["id"]).signals
    assert signal.upvotes == entries[0]["paper"]["upvotes"]
