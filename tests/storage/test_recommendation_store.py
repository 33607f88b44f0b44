"""Contract tests for recommendation rows on SQLite and PostgreSQL: signals are idempotent, every
signal change moves the reader's version and a burst enqueues one refit job, a stored model is
never replaced by one fitted at an older version, shown papers are recorded once, and sampled
vectors leave out what they are told to."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from papercast.bootstrap import Papercast, build
from papercast.domain.papers import PaperRecord
from papercast.domain.recommendations import SignalKind
from papercast.settings import Settings
from support.clock import ManualClock

PAPERS = [f"2612.{number:05d}" for number in range(1, 21)]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 12, 3, 16, 0, 5, tzinfo=UTC))


@pytest.fixture
def papercast(database_url: str, tmp_path: Path, clock: ManualClock) -> Iterator[Papercast]:
    settings = Settings.load(env={}, data_dir=tmp_path, database_url=database_url, embedding_model="hashing")
    app = build(settings, clock)
    app.ingest.ingest([PaperRecord(paper_id=paper_id, title=f"Paper {paper_id}", abstract=f"words {paper_id}",
                                   source="test") for paper_id in PAPERS])
    app.embedding_service().catch_up(batch_size=64)
    yield app
    app.close()


def test_signals_are_idempotent_and_a_burst_enqueues_one_refit(papercast: Papercast,
                                                               clock: ManualClock) -> None:
    user_id = papercast.accounts().add_user("ann@example.org").id
    versions = []
    with papercast.units.begin() as transaction:
        writes = transaction.recommendations
        assert writes.set_signal(user_id, PAPERS[0], SignalKind.NOT_INTERESTED, True)
        assert not writes.set_signal(user_id, PAPERS[0], SignalKind.NOT_INTERESTED, True)
        assert writes.set_signal(user_id, PAPERS[1], SignalKind.SEED, True)
        versions += [writes.signals_changed(user_id), writes.signals_changed(user_id)]
    clock.advance(10)
    with papercast.units.begin() as transaction:
        versions.append(transaction.recommendations.signals_changed(user_id))
        assert transaction.recommendations.set_signal(user_id, PAPERS[0], SignalKind.NOT_INTERESTED, False)
    assert versions == [1, 2, 3]
    jobs = papercast.jobs.list(kinds=["refit-recommendations"])
    assert len(jobs) == 1 and jobs[0].run_at == datetime(2026, 12, 3, 16, 0, 30, tzinfo=UTC)
    clock.advance(30)
    with papercast.units.begin() as transaction:
        transaction.recommendations.signals_changed(user_id)
    assert len(papercast.jobs.list(kinds=["refit-recommendations"])) == 2
    assert papercast.recommendation_store().signals_of(user_id) == [(PAPERS[1], SignalKind.SEED)]


def test_a_model_is_never_replaced_by_an_older_fit(papercast: Papercast, clock: ManualClock) -> None:
    user_id = papercast.accounts().add_user("ann@example.org").id
    store = papercast.recommendation_store()
    with papercast.units.begin() as transaction:
        for _ in range(3):
            transaction.recommendations.signals_changed(user_id)
    newer, older = np.ones(4, dtype=np.float32), np.zeros(4, dtype=np.float32)
    assert store.store_model(user_id, 3, "m", newer, 2, 5, clock.now())
    assert not store.store_model(user_id, 2, "m", older, 1, 1, clock.now())
    assert not store.store_model(user_id, 3, "m", older, 1, 1, clock.now())
    stored = store.model_of(user_id)
    assert stored is not None and stored.current and stored.fitted_version == 3
    assert stored.weights is not None and stored.weights.tolist() == [1.0] * 4
    assert (stored.positives, stored.negatives) == (2, 5)


def test_shown_papers_are_recorded_once_and_samples_leave_out_what_they_are_told(
        papercast: Papercast) -> None:
    user_id = papercast.accounts().add_user("ann@example.org").id
    for _ in range(2):
        with papercast.units.begin() as transaction:
            transaction.recommendations.record_shown(user_id, [PAPERS[0], PAPERS[1], PAPERS[0]])
    store = papercast.recommendation_store()
    assert store.shown(user_id) == {PAPERS[0], PAPERS[1]}
    model_id = papercast.embedding_model_id()
    assert model_id is not None
    sample = store.sample_vectors(model_id, 100, np.random.default_rng(0), set(PAPERS[:19]))
    _, last = store.vectors_of(model_id, [PAPERS[19]])
    assert len(sample) >= 1 and all(np.allclose(row, last[0]) for row in sample)
