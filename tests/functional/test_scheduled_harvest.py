"""Scheduled harvests end to end, on SQLite and PostgreSQL: the worker with a manual clock, the
real polite client and HarvestService against the local replay server, followed sources
`oai:cs` and `hf-daily`. Across a Thursday announcement, a Friday, a Saturday, a Sunday
announcement, a holiday and a day of downtime: one harvest per source per announcement, none on
the other days, one catch-up after the downtime, each continuing from its cursor.

Times below are US Eastern (the announcement is at 20:00; the harvest starts 150 minutes later).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from papercast.bootstrap import Papercast, build
from papercast.clock import SystemClock
from papercast.domain.announcements import EASTERN
from papercast.domain.jobs import JobState
from papercast.settings import Settings
from papercast.worker.harvests import BUSY_RETRY
from papercast.worker.loop import Worker
from papercast.worker.runner import Outcome
from papercast.worker.tasks import build_worker
from support.clock import ManualClock
from support.replay_server import (  # noqa: F401 - replay_server_fixture is the `replay_server` fixture
    HF_DAILY,
    OAI_INVENIO,
    OAI_SAELIM,
    ReplayServer,
    replay_server_fixture,
)

PAGE_ONE_IDS = ["0704.0471", "0704.0716", "0704.0874", "0704.1109", "0704.1114", "0704.1586"]
PAGE_TWO_IDS = ["1101.4388", "1306.5042", "1501.03810"]  # some of the 46
HF_IDS = ["2606.00467", "2606.12730"]  # some of the 30
HOLIDAY = "2026-12-07"  # a Monday, declared a holiday


def eastern(day: int, hour: int, minute: int = 0) -> datetime:
    """A moment in December 2026 given in US Eastern time, in UTC (as papercast's clocks tell it)."""
    return datetime(2026, 12, day, hour, minute, tzinfo=EASTERN).astimezone(UTC)


def oai_page(path: Path, clock: ManualClock) -> bytes:
    """A recorded ListRecords page as the last page of a list answered now: the clock's
    responseDate, no resumption token."""
    stamp = b"<responseDate>" + clock.now().strftime("%Y-%m-%dT%H:%M:%SZ").encode() + b"</responseDate>"
    body = re.sub(rb"<responseDate>[^<]*</responseDate>", stamp, path.read_bytes())
    return re.sub(rb"<resumptionToken[^>]*>[^<]*</resumptionToken>", b"", body)


class Harvests:
    """The replay server's view: each ListRecords list begun (by its `from`), and each HF day."""

    def __init__(self, server: ReplayServer) -> None:
        self._server = server

    def oai_froms(self) -> list[str]:
        return [r.params.get("from", "") for r in self._server.requests_to("/oai")
                if "resumptionToken" not in r.params]

    def hf_days(self) -> list[str]:
        return [r.params["date"] for r in self._server.requests_to("/hf")]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(eastern(3, 12))  # Thursday noon


@pytest.fixture
def papercast(database_url: str, tmp_path: Path, replay_server: ReplayServer, clock: ManualClock
              ) -> Iterator[Papercast]:
    settings = Settings.load(env={}, data_dir=tmp_path / "data", database_url=database_url,
                             oai_base_url=replay_server.url_for("/oai"),
                             hf_daily_url=replay_server.url_for("/hf"),
                             harvest_follow="oai:cs,hf-daily", harvest_holidays=HOLIDAY, harvest_first_days=3,
                             harvest_request_interval=0.01, harvest_max_attempts=2, harvest_timeout=10.0,
                             embedding_model="hashing")
    app = build(settings, clock)
    yield app
    app.close()


class Scene:
    """The replay server answering as arXiv and Hugging Face would at the clock's time, and a worker."""

    def __init__(self, server: ReplayServer, clock: ManualClock, worker: Worker) -> None:
        self.server, self.clock, self.worker = server, clock, worker
        self.oai = OAI_SAELIM / "ListRecordsResponse.xml"

    def at(self, moment: datetime) -> None:
        """Move the clock to `moment` and let the worker do what is due then."""
        self.clock.advance((moment - self.clock.now()).total_seconds())
        self.server.clear_routes()
        self.server.route("/oai", {"verb": "ListRecords", "resumptionToken": None},
                          body=oai_page(self.oai, self.clock))
        self.server.route("/hf", None, body=HF_DAILY.read_bytes())
        self.worker.run_once()


def harvest_jobs(papercast: Papercast) -> list[str]:
    return sorted(job.unique_key or "" for job in papercast.jobs.list(kinds=["harvest"], limit=100))


def test_one_harvest_per_source_per_announcement_and_one_catch_up_after_downtime(
        papercast: Papercast, replay_server: ReplayServer, clock: ManualClock, shared_data: Path) -> None:
    harvests = Harvests(replay_server)
    scene = Scene(replay_server, clock, build_worker(papercast))

    # Thursday noon, the first start: Wednesday's announcement has passed, nothing was harvested
    # yet: each source starts `first_days` (3) before it.
    scene.at(eastern(3, 12))
    assert harvests.oai_froms() == ["2026-11-29"]
    assert harvests.hf_days() == ["2026-11-29", "2026-11-30", "2026-12-01", "2026-12-02"]
    assert all(papercast.catalog.paper(paper_id) for paper_id in PAGE_ONE_IDS + HF_IDS)

    # Thursday's announcement at 20:00: the harvests are due at 22:30, not before.
    scene.oai = OAI_INVENIO / "sample_arxiv_response_listrecords_cs.xml"
    scene.at(eastern(3, 20, 1))
    assert len(harvests.oai_froms()) == 1 and len(harvests.hf_days()) == 4
    scene.at(eastern(3, 22, 31))
    assert harvests.oai_froms()[1:] == ["2026-12-03"]  # the date (UTC) of the last list's response
    assert harvests.hf_days()[4:] == ["2026-12-03"]
    assert all(papercast.catalog.paper(paper_id) for paper_id in PAGE_TWO_IDS)  # new papers arrived

    # Friday and Saturday: no announcement, no harvest.
    for moment in (eastern(4, 22, 31), eastern(5, 12), eastern(5, 23, 59)):
        scene.at(moment)
    assert len(harvests.oai_froms()) == 2 and len(harvests.hf_days()) == 5

    # Sunday's announcement: one harvest each; HF reads Friday, Saturday and Sunday.
    scene.at(eastern(6, 22, 31))
    assert harvests.oai_froms()[2:] == ["2026-12-04"]
    assert harvests.hf_days()[5:] == ["2026-12-04", "2026-12-05", "2026-12-06"]

    # Monday is a holiday: nothing.
    scene.at(eastern(7, 22, 31))
    assert len(harvests.oai_froms()) == 3 and len(harvests.hf_days()) == 8

    # Downtime: no worker runs on Tuesday (its announcement passes unharvested). A worker starting
    # on Wednesday night harvests once per source, covering Tuesday and Wednesday.
    scene.worker = build_worker(papercast)
    scene.at(eastern(9, 23))
    scene.at(eastern(9, 23, 30))  # and nothing more after it
    assert harvests.oai_froms()[3:] == ["2026-12-07"]
    assert harvests.hf_days()[8:] == ["2026-12-07", "2026-12-08", "2026-12-09"]

    assert harvest_jobs(papercast) == sorted(
        f"harvest:{source}@{moment}" for source in ("oai:cs", "hf-daily")
        for moment in ("2026-12-03T01:00:00Z", "2026-12-04T01:00:00Z", "2026-12-07T01:00:00Z",
                       "2026-12-10T01:00:00Z"))
    assert {job.state for job in papercast.jobs.list(kinds=["harvest"])} == {JobState.DONE}
    assert not replay_server.unmatched


def test_a_second_harvest_of_a_source_waits_while_one_runs_on_another_worker(
        database_url: str, tmp_path: Path, replay_server: ReplayServer, shared_data: Path) -> None:
    settings = Settings.load(env={}, data_dir=tmp_path / "data", database_url=database_url,
                             oai_base_url=replay_server.url_for("/oai"), harvest_follow="oai:cs",
                             harvest_request_interval=0.01, harvest_timeout=30.0, embedding_model="hashing")
    first, second = build(settings, SystemClock()), build(settings, SystemClock())
    try:
        page = (OAI_INVENIO / "sample_arxiv_response_listrecords_cs.xml").read_bytes()
        replay_server.route("/oai", None, body=page, delay=2.0)  # a slow server: the first harvest lasts
        running = first.jobs.enqueue("harvest", {"source": "oai:cs"})
        waiting = first.jobs.enqueue("harvest", {"source": "oai:cs"})  # an operator's retry, say
        one, other = build_worker(first, owner="worker-1"), build_worker(second, owner="worker-2")
        thread = threading.Thread(target=one.run_once)
        thread.start()
        try:
            for _ in range(300):  # until the first worker's request is at the server (up to 30 s)
                if replay_server.max_concurrency or replay_server.requests:
                    break
                time.sleep(0.1)
            other.run_once()  # claims the second job while the first harvest runs
        finally:
            thread.join(60)
        assert one.report.jobs[Outcome.DONE] >= 1 and other.report.jobs == {Outcome.DEFERRED: 1}
        job = first.jobs.get(waiting)  # type: ignore[arg-type]
        assert (job.state, job.attempts) == (JobState.DUE, 0)
        assert job.run_at >= job.updated_at + BUSY_RETRY - timedelta(seconds=1)  # type: ignore[operator]
        assert first.jobs.get(running).state is JobState.DONE  # type: ignore[arg-type]
        assert len(replay_server.requests_to("/oai")) == 1 and replay_server.max_concurrency == 1
    finally:
        first.close()
        second.close()
