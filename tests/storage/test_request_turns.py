"""Turns at a remote host shared through the database, on SQLite and PostgreSQL: one holder at a
time, the next turn a spacing after the last one started, a dead holder's turn freed by its hold."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import Engine

from papercast.storage.request_turns import SqlRequestTurns
from support.clock import ManualClock

HOLD = timedelta(seconds=60)
SPACING = timedelta(seconds=3)


def test_one_holder_at_a_time_and_the_spacing_after_it(engine: Engine) -> None:
    clock = ManualClock()
    turns = SqlRequestTurns(engine, clock)
    assert turns.take("arxiv.org", "a", HOLD) == 0.0
    started = clock.now()
    assert turns.take("arxiv.org", "b", HOLD) == 60.0  # a's request runs: at most until its hold ends
    assert turns.take("huggingface.co", "b", HOLD) == 0.0  # hosts are independent
    clock.advance(1)
    turns.end("arxiv.org", "a", SPACING, started)
    assert turns.take("arxiv.org", "b", HOLD) == 2.0  # three seconds after a's request started
    clock.advance(2)
    assert turns.take("arxiv.org", "b", HOLD) == 0.0


def test_a_slow_request_makes_the_next_wait_for_its_end_not_more(engine: Engine) -> None:
    clock = ManualClock()
    turns = SqlRequestTurns(engine, clock)
    turns.take("arxiv.org", "a", HOLD)
    started = clock.now()
    clock.advance(10)
    turns.end("arxiv.org", "a", SPACING, started)
    assert turns.take("arxiv.org", "b", HOLD) == 0.0


def test_a_holder_that_died_frees_the_turn_when_its_hold_ends(engine: Engine) -> None:
    clock = ManualClock()
    turns = SqlRequestTurns(engine, clock)
    turns.take("arxiv.org", "dead", HOLD)
    clock.advance(HOLD.total_seconds())
    assert turns.take("arxiv.org", "b", HOLD) == 0.0
    turns.end("arxiv.org", "dead", SPACING, clock.now())  # too late: the turn is b's now
    assert turns.take("arxiv.org", "c", HOLD) == 60.0


def test_concurrent_takers_get_one_turn(engine: Engine) -> None:
    turns = SqlRequestTurns(engine, ManualClock())
    barrier, waits = threading.Barrier(6), []

    def take(holder: str) -> None:
        barrier.wait()
        waits.append(turns.take("arxiv.org", holder, HOLD))

    threads = [threading.Thread(target=take, args=(f"h{n}",)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(waits) == [0.0] + [60.0] * 5
