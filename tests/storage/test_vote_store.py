"""Contract tests for votes, saves and popularity on SQLite and PostgreSQL: one vote per reader
and paper, counts changed in the vote's own transaction (and only when a row changed), exact
counts under concurrent voters, a disabled account's votes kept but not counted, ingest moving a
paper's score with its external upvotes, and stored scores equal to scores counted again."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select, text

from papercast.bootstrap import Papercast, build
from papercast.domain.accounts import UserState
from papercast.domain.papers import ExternalSignal, PaperRecord
from papercast.domain.trending import Mark, Popularity, TrendingParameters, announced_at
from papercast.settings import Settings
from papercast.storage import migrations
from papercast.storage.popularity import PopularityRecords
from papercast.storage.tables import paper_popularity, saves, vote_actions, votes
from support.clock import ManualClock

PARAMETERS = TrendingParameters()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 12, 3, 16, 0, tzinfo=UTC))


@pytest.fixture
def papercast(database_url: str, tmp_path: Path, clock: ManualClock) -> Iterator[Papercast]:
    app = build(Settings.load(env={}, data_dir=tmp_path, database_url=database_url), clock)
    report = app.ingest.ingest([
        PaperRecord(paper_id="2612.00001", title="Popular elsewhere", source="test",
                    announced_on=date(2026, 12, 1), signal=ExternalSignal("hf-daily", upvotes=40)),
        PaperRecord(paper_id="2612.00002", title="Quiet", source="test", announced_on=date(2026, 12, 2)),
        PaperRecord(paper_id="seed-001", title="Undated", source="test"),
    ])
    assert report.new == 3
    yield app
    app.close()


def add_users(papercast: Papercast, count: int) -> list[int]:
    with papercast.units.begin() as transaction:
        added = [transaction.accounts.add_user(f"reader{n}@example.org", transaction.now)
                 for n in range(count)]
    return [user.id for user in added if user is not None]


def mark(papercast: Papercast, user_id: int, paper_id: str, kind: Mark, on: bool) -> bool:
    with papercast.units.begin() as transaction:
        transaction.votes.lock_voter(user_id)
        return transaction.votes.set_mark(kind, user_id, paper_id, on, transaction.now)


def stored(engine: Engine, paper_id: str) -> tuple[int, int, int, float, float]:
    with engine.connect() as connection:
        row = connection.execute(select(
            paper_popularity.c.upvotes, paper_popularity.c.saves, paper_popularity.c.external_upvotes,
            paper_popularity.c.points, paper_popularity.c.score)
            .where(paper_popularity.c.paper_id == paper_id)).one()
    return int(row[0]), int(row[1]), int(row[2]), float(row[3]), float(row[4])


def recounted(papercast: Papercast, paper_ids: list[str]) -> dict[str, tuple[int, int, int, float, float]]:
    """What counting every paper again from votes, saves and signals stores (in a transaction
    that is rolled back: the comparison must not change what it compares)."""
    with papercast.engine.connect() as connection, connection.begin() as transaction:
        standings = PopularityRecords(connection, PARAMETERS).recount(paper_ids)
        transaction.rollback()
    return {paper_id: (s.popularity.upvotes, s.popularity.saves, s.popularity.external_upvotes, s.points,
                       s.score or 0.0) for paper_id, s in standings.items()}


def test_ingest_gives_every_new_paper_its_popularity_row(papercast: Papercast, clock: ManualClock) -> None:
    popular = stored(papercast.engine, "2612.00001")
    first = announced_at(date(2026, 12, 1), clock.now())
    assert popular == (0, 0, 40, 20.0, PARAMETERS.score(20.0, first))
    undated = stored(papercast.engine, "seed-001")
    assert undated == (0, 0, 0, 0.0, PARAMETERS.score(0.0, clock.now()))  # first stored: now, not asked-at


def test_one_vote_per_reader_and_paper_and_counts_move_only_with_rows(papercast: Papercast) -> None:
    (ann,) = add_users(papercast, 1)
    assert mark(papercast, ann, "2612.00002", Mark.UPVOTE, True) is True
    assert mark(papercast, ann, "2612.00002", Mark.UPVOTE, True) is False  # repeated: nothing changes
    assert stored(papercast.engine, "2612.00002")[:2] == (1, 0)
    assert mark(papercast, ann, "2612.00002", Mark.SAVE, True) is True
    assert stored(papercast.engine, "2612.00002")[:2] == (1, 1)
    assert mark(papercast, ann, "2612.00002", Mark.UPVOTE, False) is True
    assert mark(papercast, ann, "2612.00002", Mark.UPVOTE, False) is False  # removing twice: once
    assert stored(papercast.engine, "2612.00002")[:2] == (0, 1)
    with papercast.engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(votes)).scalar_one() == 0
        assert connection.execute(select(func.count()).select_from(saves)).scalar_one() == 1


def test_a_vote_and_its_counts_roll_back_together(papercast: Papercast) -> None:
    (ann,) = add_users(papercast, 1)
    before = stored(papercast.engine, "2612.00001")
    version = papercast.trending.vote_version()
    with pytest.raises(RuntimeError), papercast.units.begin() as transaction:
        transaction.votes.set_mark(Mark.UPVOTE, ann, "2612.00001", True, transaction.now)
        raise RuntimeError("the request failed after the vote")
    assert stored(papercast.engine, "2612.00001") == before
    with papercast.engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(votes)).scalar_one() == 0
    assert papercast.trending.vote_version() == version  # caches keep their pages
    mark(papercast, ann, "2612.00001", Mark.UPVOTE, True)
    assert papercast.trending.vote_version() > version  # and drop them once a vote counted
    moved = papercast.trending.vote_version()
    mark(papercast, ann, "2612.00001", Mark.UPVOTE, True)  # changes nothing
    assert papercast.trending.vote_version() == moved


def test_a_vote_raises_the_score_and_its_removal_restores_it_exactly(papercast: Papercast) -> None:
    (ann,) = add_users(papercast, 1)
    before = stored(papercast.engine, "2612.00002")
    mark(papercast, ann, "2612.00002", Mark.UPVOTE, True)
    raised = stored(papercast.engine, "2612.00002")
    assert raised[4] > before[4] and raised[3] == before[3] + PARAMETERS.upvote_weight
    mark(papercast, ann, "2612.00002", Mark.UPVOTE, False)
    assert stored(papercast.engine, "2612.00002") == before


def test_concurrent_voters_keep_counts_exact(papercast: Papercast) -> None:
    readers = add_users(papercast, 12)
    errors: list[BaseException] = []

    def vote_and_toggle(user_id: int) -> None:
        try:
            for round_ in range(3):
                mark(papercast, user_id, "2612.00001", Mark.UPVOTE, True)
                mark(papercast, user_id, "2612.00001", Mark.SAVE, round_ % 2 == 0)
                mark(papercast, user_id, "2612.00001", Mark.UPVOTE, True)  # the same vote again
        except BaseException as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=vote_and_toggle, args=(user_id,)) for user_id in readers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with papercast.engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(votes)).scalar_one() == 12
        assert connection.execute(select(func.count()).select_from(saves)).scalar_one() == 12
    assert stored(papercast.engine, "2612.00001")[:3] == (12, 12, 40)
    assert recounted(papercast, ["2612.00001"])["2612.00001"] == stored(papercast.engine, "2612.00001")


def test_a_disabled_account_stops_counting_without_losing_its_votes(papercast: Papercast) -> None:
    ann, bob = add_users(papercast, 2)
    for user_id in (ann, bob):
        mark(papercast, user_id, "2612.00002", Mark.UPVOTE, True)
    mark(papercast, ann, "2612.00002", Mark.SAVE, True)
    mark(papercast, ann, "seed-001", Mark.UPVOTE, True)
    papercast.accounts().set_state("reader0@example.org", UserState.DISABLED)  # `papercast users disable`
    assert stored(papercast.engine, "2612.00002")[:2] == (1, 0)
    assert stored(papercast.engine, "seed-001")[:2] == (0, 0)
    with papercast.engine.connect() as connection:
        kept = connection.execute(select(votes.c.paper_id, votes.c.counted).where(votes.c.user_id == ann)
                                  .order_by(votes.c.paper_id)).all()
    assert [tuple(row) for row in kept] == [("2612.00002", False), ("seed-001", False)]
    assert recounted(papercast, ["2612.00002", "seed-001"]) == {
        paper_id: stored(papercast.engine, paper_id) for paper_id in ("2612.00002", "seed-001")}
    papercast.accounts().set_state("reader0@example.org", UserState.ACTIVE)
    assert stored(papercast.engine, "2612.00002")[:2] == (2, 1)


def test_ingest_moves_a_papers_score_with_its_external_upvotes(papercast: Papercast) -> None:
    (ann,) = add_users(papercast, 1)
    mark(papercast, ann, "2612.00001", Mark.UPVOTE, True)
    before = stored(papercast.engine, "2612.00001")
    papercast.ingest.ingest([PaperRecord(paper_id="2612.00001", title="Popular elsewhere", source="hf-daily",
                                         signal=ExternalSignal("hf-daily", upvotes=90))])
    after = stored(papercast.engine, "2612.00001")
    assert after[:3] == (1, 0, 90) and after[4] > before[4]  # the local vote is kept
    assert recounted(papercast, ["2612.00001"])["2612.00001"] == after
    unchanged = papercast.ingest.ingest([PaperRecord(paper_id="2612.00001", title="Popular elsewhere",
                                                     source="hf-daily",
                                                     signal=ExternalSignal("hf-daily", upvotes=90))])
    assert unchanged.unchanged == 1 and stored(papercast.engine, "2612.00001") == after


def test_a_paper_gaining_its_announcement_day_is_scored_from_it(papercast: Papercast,
                                                               clock: ManualClock) -> None:
    clock.advance(86_400 * 30)
    papercast.ingest.ingest([PaperRecord(paper_id="seed-001", title="Undated", source="other",
                                         announced_on=date(2026, 1, 5))])
    assert stored(papercast.engine, "seed-001")[4] == PARAMETERS.score(0.0, datetime(2026, 1, 5, tzinfo=UTC))


def test_trending_reads_papers_with_points_by_score_through_the_index(papercast: Papercast) -> None:
    (ann,) = add_users(papercast, 1)
    mark(papercast, ann, "seed-001", Mark.UPVOTE, True)
    page = papercast.trending.listing("trending", 0, 10)
    assert [entry.paper.paper_id for entry in page.entries] == ["seed-001", "2612.00001"]  # newest wins
    assert page.total == 2  # papers without points do not trend
    with papercast.engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql("SET enable_seqscan = off")
            plan = " ".join(connection.exec_driver_sql(
                "EXPLAIN SELECT paper_id FROM paper_popularity WHERE points > 0 "
                "ORDER BY score DESC, announced_at DESC, paper_id DESC LIMIT 20").scalars())
        else:
            plan = " ".join(str(row[-1]) for row in connection.exec_driver_sql(
                "EXPLAIN QUERY PLAN SELECT paper_id FROM paper_popularity WHERE points > 0 "
                "ORDER BY score DESC, announced_at DESC, paper_id DESC LIMIT 20"))
    assert "ix_paper_popularity_trending" in plan and "SORT" not in plan.upper().replace("ORDER", "")


def test_stored_scores_follow_new_parameters_after_a_rescore(
        database_url: str, tmp_path: Path, papercast: Papercast, clock: ManualClock) -> None:
    (ann,) = add_users(papercast, 1)
    mark(papercast, ann, "2612.00002", Mark.SAVE, True)
    assert papercast.trending.scores_are_current()
    settings = Settings.load(env={}, data_dir=tmp_path, database_url=database_url, trending_save_weight=5.0,
                             trending_tau_hours=12)
    other = build(settings, clock)
    try:
        assert not other.trending.scores_are_current()
        assert other.trending.rescore(batch=2) == 3
        assert other.trending.scores_are_current()
        changed = TrendingParameters(save_weight=5.0, tau_seconds=12 * 3600)
        assert stored(other.engine, "2612.00002")[3:] == changed.standing(
            Popularity(saves=1), datetime(2026, 12, 2, tzinfo=UTC))
    finally:
        other.close()


def test_old_actions_are_forgotten_by_later_ones(papercast: Papercast, clock: ManualClock) -> None:
    (ann,) = add_users(papercast, 1)
    with papercast.units.begin() as transaction:
        for _ in range(3):
            transaction.votes.record_action(ann, "address", transaction.now)
    clock.advance(timedelta(days=1, seconds=1).total_seconds())
    with papercast.units.begin() as transaction:
        transaction.votes.record_action(ann, "address", transaction.now)
        assert transaction.votes.nth_newest_action(1, transaction.now - timedelta(minutes=1),
                                                   user_id=ann) == transaction.now
        assert transaction.votes.nth_newest_action(2, transaction.now - timedelta(days=2),
                                                   address_hash="address") is None
    with papercast.engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(vote_actions)).scalar_one() == 1


def test_the_migration_gives_existing_papers_their_rows(database_url: str, tmp_path: Path) -> None:
    from papercast.storage.engine import create_database_engine

    engine = create_database_engine(database_url)
    try:
        migrations.upgrade(engine, "0006_accounts")
        with engine.begin() as connection:
            connection.execute(text(
                "INSERT INTO papers (id, title, content_hash, change_seq, created_at, updated_at, "
                "announced_on) "
                "VALUES ('2601.00001', 'Old', 'h1', 1, '2026-01-02 03:04:05', '2026-01-02 03:04:05', "
                "'2025-12-31'), ('seed-009', 'Undated', 'h2', 2, '2026-01-02 03:04:05', "
                "'2026-01-02 03:04:05', NULL)"))
            connection.execute(text("INSERT INTO paper_signals (paper_id, source, upvotes, comments) "
                                    "VALUES ('2601.00001', 'hf-daily', 12, 0)"))
        migrations.upgrade(engine)
        assert migrations.drift(engine) == []
        old_day, first_stored = datetime(2025, 12, 31, tzinfo=UTC), datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
        assert stored(engine, "2601.00001") == (0, 0, 12, 6.0, PARAMETERS.score(6.0, old_day))
        assert stored(engine, "seed-009")[4] == PARAMETERS.score(0.0, first_stored)
    finally:
        engine.dispose()


PAPER_IDS = ["2612.00001", "2612.00002", "seed-001"]
# (what, reader, paper, mark, on, external upvotes): one shape for every step keeps it typed.
Step = tuple[str, int, str, Mark, bool, int]
steps = st.lists(st.tuples(st.sampled_from(["mark", "mark", "mark", "disable", "enable", "signal"]),
                           st.integers(0, 3), st.sampled_from(PAPER_IDS), st.sampled_from(list(Mark)),
                           st.booleans(), st.integers(0, 500)), max_size=25)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps)
def test_stored_popularity_always_equals_popularity_counted_again(papercast: Papercast,
                                                                  steps: list[Step]) -> None:
    readers = _users(papercast) or add_users(papercast, 4)
    disabled: set[int] = set()
    for what, reader, paper_id, kind, on, external in steps:
        user_id = readers[reader]
        if what == "mark" and user_id not in disabled:
            mark(papercast, user_id, paper_id, kind, on)
        elif what == "disable" and user_id not in disabled:
            with papercast.units.begin() as transaction:
                transaction.votes.stop_counting(user_id)
            disabled.add(user_id)
        elif what == "enable" and user_id in disabled:
            with papercast.units.begin() as transaction:
                transaction.votes.resume_counting(user_id)
            disabled.discard(user_id)
        elif what == "signal":
            papercast.ingest.ingest([PaperRecord(paper_id=paper_id, title="Signal", source="hf-daily",
                                                 signal=ExternalSignal("hf-daily", upvotes=external))])
    now_stored = {paper_id: stored(papercast.engine, paper_id) for paper_id in PAPER_IDS}
    assert now_stored == recounted(papercast, PAPER_IDS)
    with papercast.units.begin() as transaction:  # the next example starts with every account counted
        for user_id in disabled:
            transaction.votes.resume_counting(user_id)


def _users(papercast: Papercast) -> list[int]:
    with papercast.engine.connect() as connection:
        return list(connection.execute(text("SELECT id FROM users ORDER BY id")).scalars())
