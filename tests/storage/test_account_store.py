"""Contract tests for account storage on SQLite and PostgreSQL: users by normalised address,
sessions and API tokens found by hash only while valid, single-use links used once, counts for
rate limits, deletion that keeps the row, and the install's key shared by every process."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import Engine, func, select

from papercast.clock import Clock
from papercast.domain.accounts import Scope, UserState, Via
from papercast.storage.accounts import SqlAccountRecords, SqlAccountStore
from papercast.storage.engine import write_transaction
from papercast.storage.instance_keys import load_or_create_key
from papercast.storage.tables import users
from papercast.storage.unit_of_work import SqlUnitOfWork
from support.clock import ManualClock

Manual = ManualClock

DAY = timedelta(days=1)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def units(engine: Engine, clock: ManualClock) -> SqlUnitOfWork:
    return SqlUnitOfWork(engine, clock)


@pytest.fixture
def records(engine: Engine) -> Iterator[SqlAccountRecords]:
    """Records on one connection that commits after each statement's transaction block."""
    with write_transaction(engine) as connection:
        yield SqlAccountRecords(connection)


def test_an_address_has_one_account(records: SqlAccountRecords, clock: Clock) -> None:
    user = records.add_user("ann@example.org", clock.now(), is_admin=True)
    assert user is not None and user.email == "ann@example.org" and user.is_admin
    assert user.state is UserState.ACTIVE and user.created_at == clock.now() and user.last_sign_in_at is None
    assert records.add_user("ann@example.org", clock.now()) is None
    assert records.user_by_email("ann@example.org") == user == records.user_by_id(user.id)
    assert records.user_by_email("bob@example.org") is None


def test_user_ids_are_integers_that_grow(records: SqlAccountRecords, clock: Clock) -> None:
    first = records.add_user("a@example.org", clock.now())
    second = records.add_user("b@example.org", clock.now())
    assert first is not None and second is not None
    assert isinstance(first.id, int) and second.id > first.id
    assert [user.email for user in records.list_users(10)] == ["a@example.org", "b@example.org"]


def test_a_session_reads_back_by_its_hash_until_it_expires(records: SqlAccountRecords, clock: Manual) -> None:
    user = records.add_user("ann@example.org", clock.now())
    assert user is not None
    session_id = records.add_session(user.id, "h" * 64, clock.now(), clock.now() + DAY, "Firefox on Linux")
    found = records.session_reader("h" * 64, clock.now())
    assert found is not None
    reader, last_seen = found
    assert (reader.user_id, reader.email, reader.via, reader.scope, reader.credential_id) == \
        (user.id, "ann@example.org", Via.SESSION, Scope.WRITE, session_id)
    assert last_seen == clock.now()
    assert records.session_reader("x" * 64, clock.now()) is None
    assert records.session_reader("h" * 64, clock.now() + DAY) is None  # expired
    [info] = records.sessions_of(user.id, clock.now())
    assert (info.id, info.user_agent, info.expires_at) == (session_id, "Firefox on Linux", clock.now() + DAY)


def test_a_disabled_accounts_sessions_and_tokens_stop_working(records: SqlAccountRecords,
                                                              clock: Clock) -> None:
    user = records.add_user("ann@example.org", clock.now())
    assert user is not None
    records.add_session(user.id, "s" * 64, clock.now(), clock.now() + DAY, "")
    records.add_api_token(user.id, "t" * 64, "pct_abcdef", "script", Scope.READ, clock.now())
    records.set_user_state(user.id, UserState.DISABLED)
    assert records.session_reader("s" * 64, clock.now()) is None
    assert records.token_reader("t" * 64) is None
    records.set_user_state(user.id, UserState.ACTIVE)
    assert records.session_reader("s" * 64, clock.now()) is not None
    assert records.token_reader("t" * 64) is not None


def test_sessions_are_deleted_one_or_all(records: SqlAccountRecords, clock: Clock) -> None:
    ann = records.add_user("ann@example.org", clock.now())
    bob = records.add_user("bob@example.org", clock.now())
    assert ann is not None and bob is not None
    for token_hash, owner in (("a1", ann), ("a2", ann), ("b1", bob)):
        records.add_session(owner.id, token_hash, clock.now(), clock.now() + DAY, "")
    assert records.delete_session("a1") and not records.delete_session("a1")
    assert records.delete_sessions(ann.id) == 1
    assert records.session_reader("a2", clock.now()) is None
    assert records.session_reader("b1", clock.now()) is not None


def test_api_tokens_carry_their_scope_and_stop_when_revoked(records: SqlAccountRecords,
                                                            clock: Manual) -> None:
    ann = records.add_user("ann@example.org", clock.now())
    bob = records.add_user("bob@example.org", clock.now())
    assert ann is not None and bob is not None
    read = records.add_api_token(ann.id, "r" * 64, "pct_rrrrrr", "reader", Scope.READ, clock.now())
    write = records.add_api_token(ann.id, "w" * 64, "pct_wwwwww", "voter", Scope.WRITE, clock.now())
    found = records.token_reader("r" * 64)
    assert found is not None and found[1] is None
    assert found[0].scope is Scope.READ and found[0].via is Via.TOKEN
    clock.advance(60)
    records.touch_api_token(read.id, clock.now())
    found = records.token_reader("r" * 64)
    assert found is not None and found[1] == clock.now()
    assert [token.name for token in records.api_tokens_of(ann.id)] == ["voter", "reader"]
    assert not records.revoke_api_token(bob.id, write.id, clock.now())  # not Bob's to revoke
    assert records.revoke_api_token(ann.id, write.id, clock.now())
    assert not records.revoke_api_token(ann.id, write.id, clock.now())
    assert records.token_reader("w" * 64) is None
    assert [token.name for token in records.api_tokens_of(ann.id)] == ["reader"]


def test_a_link_is_used_once_and_not_after_it_expires(records: SqlAccountRecords, clock: Manual) -> None:
    now = clock.now()
    first = records.add_link("sign-in", "ann@example.org", "n" * 64, "ip", now, now + DAY)
    found = records.link(first)
    assert found is not None
    record, nonce_hash = found
    assert (record.purpose, record.subject, record.used_at) == ("sign-in", "ann@example.org", None)
    assert nonce_hash == "n" * 64
    assert records.use_link(first, clock.now())
    assert not records.use_link(first, clock.now())
    used = records.link(first)
    assert used is not None and used[0].used_at == clock.now()
    second = records.add_link("sign-in", "ann@example.org", "m" * 64, None, clock.now(), clock.now() + DAY)
    assert not records.use_link(second, clock.now() + DAY)
    assert records.link(12345) is None


def test_links_are_counted_by_subject_and_requester(records: SqlAccountRecords, clock: Manual) -> None:
    start = clock.now()
    for subject, requester in (("ann@x.org", "ip1"), ("ann@x.org", "ip2"), ("bob@x.org", "ip1")):
        records.add_link("sign-in", subject, "n", requester, clock.now(), clock.now() + DAY)
        clock.advance(60)
    records.add_link("confirm", "ann@x.org", "n", "ip1", clock.now(), clock.now() + DAY)
    assert records.count_links("sign-in", start - timedelta(seconds=1), subject="ann@x.org") == 2
    assert records.count_links("sign-in", start - timedelta(seconds=1), requester_hash="ip1") == 2
    assert records.count_links("sign-in", start, requester_hash="ip1") == 1  # the first is not after start
    assert records.count_links("confirm", start, subject="ann@x.org") == 1


def test_forgetting_a_user_keeps_the_row_without_personal_data(records: SqlAccountRecords,
                                                               clock: Clock) -> None:
    user = records.add_user("ann@example.org", clock.now(), is_admin=True)
    assert user is not None
    records.record_sign_in(user.id, clock.now())
    records.add_session(user.id, "s", clock.now(), clock.now() + DAY, "Firefox on Linux")
    records.add_api_token(user.id, "t", "pct_tttttt", "script", Scope.WRITE, clock.now())
    records.add_link("sign-in", "ann@example.org", "n", None, clock.now(), clock.now() + DAY)
    records.forget_user(user.id)
    assert records.forget_links("ann@example.org") == 1
    forgotten = records.user_by_id(user.id)
    assert forgotten is not None
    assert (forgotten.email, forgotten.state, forgotten.is_admin, forgotten.last_sign_in_at) == \
        (None, UserState.DELETED, False, None)
    assert records.sessions_of(user.id, clock.now()) == [] and records.api_tokens_of(user.id) == []
    assert records.user_by_email("ann@example.org") is None
    assert records.add_user("ann@example.org", clock.now()) is not None  # the address may come back
    assert records.list_users(10)[0].email == "ann@example.org" and len(records.list_users(10)) == 1


def test_two_deleted_accounts_can_coexist(records: SqlAccountRecords, clock: Clock) -> None:
    for address in ("a@example.org", "b@example.org"):
        user = records.add_user(address, clock.now())
        assert user is not None
        records.forget_user(user.id)
    assert records._connection.execute(select(func.count()).select_from(users)).scalar_one() == 2


def test_pruning_deletes_only_what_ended_before_the_time(records: SqlAccountRecords, clock: Manual) -> None:
    user = records.add_user("ann@example.org", clock.now())
    assert user is not None
    half_hour = clock.now() + timedelta(minutes=30)
    records.add_link("sign-in", "ann@example.org", "old", None, clock.now(), half_hour)
    records.add_link("sign-in", "ann@example.org", "new", None, clock.now(), clock.now() + DAY)
    records.add_session(user.id, "old", clock.now(), clock.now() + timedelta(hours=1), "")
    records.add_session(user.id, "new", clock.now(), clock.now() + DAY, "")
    assert records.prune(clock.now() + timedelta(hours=1), clock.now() + timedelta(hours=2)) == (1, 1)
    assert records.session_reader("new", clock.now()) is not None


def test_account_writes_in_a_unit_of_work_roll_back_together(units: SqlUnitOfWork, engine: Engine,
                                                              clock: Clock) -> None:
    with pytest.raises(RuntimeError), units.begin() as transaction:
        transaction.accounts.add_user("ann@example.org", clock.now())
        transaction.accounts.add_link("sign-in", "ann@example.org", "n", None, clock.now(), clock.now() + DAY)
        raise RuntimeError("the mail could not be queued")
    with SqlAccountStore(engine).reading() as records:
        assert records.user_by_email("ann@example.org") is None
        assert records.count_links("sign-in", clock.now() - DAY, subject="ann@example.org") == 0


def test_the_lock_serialises_two_transactions_on_one_name(engine: Engine, clock: Clock) -> None:
    """Two requests for one address each count the links, then add one: with the lock, the
    second counts the first's link (a rate limit cannot be passed by racing)."""
    counts: list[int] = []
    inside = threading.Barrier(2, timeout=10)

    def request() -> None:
        with write_transaction(engine) as connection:
            records = SqlAccountRecords(connection)
            inside.wait()
            records.lock("ann@example.org")
            counts.append(records.count_links("sign-in", clock.now() - DAY, subject="ann@example.org"))
            records.add_link("sign-in", "ann@example.org", "n", None, clock.now(), clock.now() + DAY)

    if engine.dialect.name == "sqlite":  # BEGIN IMMEDIATE: the second cannot even start inside
        inside = threading.Barrier(1)
    threads = [threading.Thread(target=request) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(counts) == [0, 1]


def test_the_install_key_is_made_once_and_shared(engine: Engine, clock: Clock) -> None:
    made = iter(["first-key", "second-key"])
    first = load_or_create_key(engine, "signing", lambda: next(made), clock.now())
    second = load_or_create_key(engine, "signing", lambda: next(made), clock.now())
    assert first == second == "first-key"
    assert load_or_create_key(engine, "other", lambda: "other-key", clock.now()) == "other-key"
