"""SQLite's one write lock: a writer that waits takes the first gap another writer leaves.

A vote waiting behind an ingest must get in between two of the ingest's sub-batches, not several
sub-batches later (SQLite's own busy handler sleeps up to 100 ms between tries and misses gaps).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from papercast.storage.engine import create_database_engine, write_transaction

# SQLite's own handler tries at 1, 3, 8, ... 228, 328, 428 ms and then every 100 ms: with these
# the gaps (350-410 ms, 760-820 ms) fall between its tries, and 60 ms is long enough for a waiter
# asking every 2 ms to be scheduled in on a loaded machine.
HOLD_S = 0.35  # how long the busy writer holds the lock each time
GAP_S = 0.06  # how long it leaves the lock free between two holds
HOLDS = 4


@pytest.fixture
def engines(tmp_path: Path) -> tuple[Engine, Engine]:
    url = f"sqlite:///{tmp_path / 'lock.db'}"
    first = create_database_engine(url)
    with write_transaction(first) as connection:
        connection.execute(text("CREATE TABLE marks (who TEXT, hold INTEGER)"))
    return first, create_database_engine(url)


def _busy_writer(engine: Engine, started: threading.Event) -> None:
    for hold in range(HOLDS):
        with write_transaction(engine) as connection:
            connection.execute(text("INSERT INTO marks VALUES ('busy', :hold)"), {"hold": hold})
            started.set()
            time.sleep(HOLD_S)
        time.sleep(GAP_S)


@contextmanager
def busy_writer(engine: Engine) -> Iterator[None]:
    """Another writer taking the lock HOLDS times, from its first hold until its last."""
    started = threading.Event()
    busy = threading.Thread(target=_busy_writer, args=(engine, started))
    busy.start()
    try:
        assert started.wait(10)
        yield
    finally:
        busy.join()


def test_a_waiting_writer_takes_the_first_gap_between_another_writers_transactions(
        engines: tuple[Engine, Engine]) -> None:
    busy_engine, waiting_engine = engines
    with busy_writer(busy_engine), write_transaction(waiting_engine) as connection:
        holds_before = connection.execute(text("SELECT count(*) FROM marks WHERE who = 'busy'")).scalar_one()
    # With SQLite's own busy handler the waiting writer slept through the first two gaps and came
    # in after the third hold.
    assert holds_before == 1


def test_a_writer_that_got_the_lock_after_waiting_leaves_a_usable_connection(
        engines: tuple[Engine, Engine]) -> None:
    busy_engine, waiting_engine = engines
    with busy_writer(busy_engine):
        for _ in range(3):
            with write_transaction(waiting_engine) as connection:
                connection.execute(text("INSERT INTO marks VALUES ('waiting', NULL)"))
        with waiting_engine.connect() as connection:
            # The busy timeout is back to its usual value once the lock is held.
            assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar_one() == 30_000
    with waiting_engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM marks")).scalar_one() == HOLDS + 3
