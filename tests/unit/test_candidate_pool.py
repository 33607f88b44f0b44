"""The candidate pool reloads changed vectors off the request path: while a reload is in
progress, `current()` answers with the matrix it has; once it is done, the new one is used; a
failed reload is logged and the old matrix stays; `close()` stops the refresher."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from datetime import datetime

import numpy as np
import pytest

from papercast.recommend.candidates import Candidates, RecentPapers
from support.clock import ManualClock

WAIT = 10.0  # seconds a test waits for a thread before it fails instead of hanging


class VectorSource:
    """A test double of the database: a version number, and a loader that can be made to block
    (on `release`) or fail."""

    def __init__(self) -> None:
        self.version = 1
        self.entered = threading.Event()
        self.release = threading.Event()
        self.release.set()
        self.failure: Exception | None = None
        self.loads = 0

    def load(self, model_id: str, since: datetime | None) -> tuple[list[str], np.ndarray, np.ndarray]:
        version = self.version
        self.entered.set()
        assert self.release.wait(WAIT), "the test never released the load"
        self.loads += 1
        if self.failure is not None:
            raise self.failure
        return [f"v{version}"], np.full((1, 4), float(version), dtype=np.float32), np.zeros(1)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def source() -> VectorSource:
    return VectorSource()


@pytest.fixture
def pool(source: VectorSource, clock: ManualClock) -> Iterator[RecentPapers]:
    made = RecentPapers(source.load, lambda: source.version, lambda: "model", clock, window_days=30,
                        check_seconds=30)
    yield made
    source.release.set()
    made.close()


def answered(pool: RecentPapers) -> Candidates:
    """`pool.current()` from another thread, failing (not hanging) if it does not answer."""
    result: list[Candidates] = []
    caller = threading.Thread(target=lambda: result.append(pool.current()), daemon=True)
    caller.start()
    caller.join(WAIT)
    assert result, "current() waited for the reload"
    return result[0]


def test_a_request_gets_the_loaded_matrix_while_a_reload_runs_and_the_new_one_after(
        pool: RecentPapers, source: VectorSource, clock: ManualClock) -> None:
    assert list(pool.current().ids) == ["v1"]  # the first load, in the caller
    source.version = 2
    source.entered.clear()
    source.release.clear()
    clock.advance(31)
    assert list(pool.current().ids) == ["v1"]  # wakes the refresher, answers at once
    assert source.entered.wait(WAIT), "the refresher did not start a reload"
    clock.advance(31)
    assert list(answered(pool).ids) == ["v1"]  # the reload is blocked: the old matrix answers
    source.release.set()
    assert pool.wait_until_idle(WAIT)
    assert list(pool.current().ids) == ["v2"]
    assert source.loads == 2


def test_nothing_is_reloaded_before_the_check_interval_nor_when_the_version_stands(
        pool: RecentPapers, source: VectorSource, clock: ManualClock) -> None:
    pool.current()
    source.version = 2
    clock.advance(10)
    assert list(pool.current().ids) == ["v1"]
    assert pool.wait_until_idle(WAIT) and source.loads == 1
    source.version = 1
    clock.advance(31)
    pool.current()
    assert pool.wait_until_idle(WAIT) and source.loads == 1


def test_a_failed_reload_is_logged_and_the_loaded_matrix_stays(pool: RecentPapers, source: VectorSource,
                                                                clock: ManualClock,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    pool.current()
    source.version = 2
    source.failure = RuntimeError("database away")
    clock.advance(31)
    with caplog.at_level(logging.ERROR, logger="papercast.recommendations"):
        pool.current()
        assert pool.wait_until_idle(WAIT)
    assert "candidates_reload_failed" in caplog.text and "database away" in caplog.text
    assert list(pool.current().ids) == ["v1"]
    source.failure = None
    clock.advance(31)
    pool.current()
    assert pool.wait_until_idle(WAIT) and list(pool.current().ids) == ["v2"]


def test_close_stops_the_refresher(pool: RecentPapers, source: VectorSource, clock: ManualClock) -> None:
    pool.current()
    clock.advance(31)
    pool.current()
    assert pool.wait_until_idle(WAIT)
    refreshers = [thread for thread in threading.enumerate() if thread.name == "papercast-candidates"]
    assert refreshers
    pool.close()
    assert not any(thread.is_alive() for thread in refreshers)
