"""Contract tests for subscriber storage on SQLite and PostgreSQL: one subscriber per address,
topics kept in order, states with the time each was entered, keyset pages in id order, removal
of personal data that keeps the row, and the schema's own guards."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import IntegrityError

from papercast.domain.subscriptions import Frequency, Preferences, SubscriberState
from papercast.storage import migrations
from papercast.storage.accounts import SqlAccountRecords
from papercast.storage.engine import write_transaction
from papercast.storage.subscribers import SqlSubscriberRecords, SqlSubscriberStore
from papercast.storage.tables import subscriber_topics, subscribers
from papercast.storage.unit_of_work import SqlUnitOfWork
from support.clock import ManualClock

S = SubscriberState
PREFS = Preferences(("cat:cs.LG", '"graph neural" -survey'), Frequency.WEEKLY, 6, "Pacific/Auckland")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def records(engine: Engine) -> Iterator[SqlSubscriberRecords]:
    with write_transaction(engine) as connection:
        yield SqlSubscriberRecords(connection)


def test_the_migration_matches_the_tables(engine: Engine) -> None:
    assert migrations.current_revision(engine) == migrations.head_revision()  # 0008_subscriptions or later
    assert migrations.drift(engine) == []


def test_an_address_has_one_subscriber_with_its_preferences(records: SqlSubscriberRecords,
                                                           clock: ManualClock) -> None:
    now = clock.now()
    added = records.add("ann@example.org", S.UNCONFIRMED, PREFS, link_key="k" * 22, source="form", now=now,
                        name="Ann")
    assert added is not None and isinstance(added.id, int)
    assert (added.email, added.name, added.state) == ("ann@example.org", "Ann", S.UNCONFIRMED)
    assert added.preferences == PREFS
    assert (added.link_key, added.source, added.user_id) == ("k" * 22, "form", None)
    assert (added.created_at, added.requested_at, added.confirmed_at, added.consented_at) == \
        (now, now, None, None)
    assert records.add("ann@example.org", S.CONFIRMED, Preferences(), link_key="x", source="api",
                       now=now) is None
    assert records.by_email("ann@example.org") == added == records.by_id(added.id)
    assert records.by_email("bob@example.org") is None and records.by_id(added.id + 100) is None
    assert records.by_ids([added.id, added.id + 100]) == {added.id: added} and records.by_ids([]) == {}


def test_imported_subscribers_keep_their_consent_time(records: SqlSubscriberRecords,
                                                      clock: ManualClock) -> None:
    consented = clock.now() - timedelta(days=400)
    added = records.add("ann@example.org", S.CONFIRMED, PREFS, link_key="k", source="import", now=clock.now(),
                        consented_at=consented)
    assert added is not None and added.consented_at == consented and added.confirmed_at == clock.now()


def test_preferences_are_replaced_whole_and_a_request_moves_requested_at(records: SqlSubscriberRecords,
                                                                        clock: ManualClock) -> None:
    added = records.add("ann@example.org", S.UNCONFIRMED, PREFS, link_key="k", source="form", now=clock.now())
    assert added is not None
    later = clock.advance(60)
    changed = Preferences(("b", "a"), Frequency.DAILY, 23, "UTC")
    records.set_preferences(added.id, changed, later)
    found = records.by_id(added.id)
    assert found is not None and found.preferences == changed and found.requested_at == added.requested_at
    records.set_preferences(added.id, Preferences(), clock.advance(60), requested=True)
    found = records.by_id(added.id)
    assert found is not None and found.preferences.topics == () and found.requested_at == clock.now()


def test_each_state_records_when_it_was_entered_and_why(records: SqlSubscriberRecords,
                                                       clock: ManualClock) -> None:
    added = records.add("ann@example.org", S.UNCONFIRMED, PREFS, link_key="k", source="form", now=clock.now())
    assert added is not None
    confirmed_at = clock.advance(60)
    records.set_state(added.id, S.CONFIRMED, confirmed_at, consented_at=confirmed_at)
    records.set_state(added.id, S.PAUSED, clock.advance(60))
    unsubscribed_at = clock.advance(60)
    records.set_state(added.id, S.UNSUBSCRIBED, unsubscribed_at, reason="one-click")
    found = records.by_id(added.id)
    assert found is not None and found.state is S.UNSUBSCRIBED and found.state_reason == "one-click"
    assert (found.confirmed_at, found.consented_at, found.unsubscribed_at) == (confirmed_at, confirmed_at,
                                                                               unsubscribed_at)
    records.set_state(added.id, S.SUPPRESSED, clock.advance(60), reason="x" * 500)
    found = records.by_id(added.id)
    assert found is not None and found.suppressed_at == clock.now() and found.state_reason == "x" * 200


def test_pages_list_subscribers_in_id_order_with_their_topics(records: SqlSubscriberRecords,
                                                             clock: ManualClock) -> None:
    states = [S.CONFIRMED, S.UNCONFIRMED, S.CONFIRMED, S.PAUSED, S.CONFIRMED, S.SUPPRESSED, S.CONFIRMED]
    ids = []
    for number, state in enumerate(states):
        added = records.add(f"r{number}@example.org", state, Preferences((f"topic{number}", "cat:cs.LG")),
                            link_key="k", source="import", now=clock.now())
        assert added is not None
        ids.append(added.id)
    confirmed = [ids[n] for n, state in enumerate(states) if state is S.CONFIRMED]
    first = records.page(states=[S.CONFIRMED], limit=2)
    rest = records.page(states=[S.CONFIRMED], after_id=first[-1].id, limit=10)
    assert [s.id for s in first + rest] == confirmed
    assert first[0].preferences.topics == ("topic0", "cat:cs.LG")
    assert [s.id for s in records.page()] == ids
    assert records.page(states=[S.CONFIRMED], after_id=confirmed[-1]) == []
    assert records.state_counts() == {"unconfirmed": 1, "confirmed": 4, "paused": 1, "unsubscribed": 0,
                                      "suppressed": 1}


def test_an_account_has_at_most_one_subscription_and_deleting_it_keeps_the_subscription(
        engine: Engine, clock: ManualClock) -> None:
    with write_transaction(engine) as connection:
        user = SqlAccountRecords(connection).add_user("ann@example.org", clock.now())
        assert user is not None
        records = SqlSubscriberRecords(connection)
        mine = records.add("ann@example.org", S.CONFIRMED, PREFS, link_key="k", source="account",
                           now=clock.now(), user_id=user.id)
        assert mine is not None and records.by_user(user.id) == mine
        other = records.add("bob@example.org", S.CONFIRMED, PREFS, link_key="k", source="form",
                            now=clock.now())
        assert other is not None
    with pytest.raises(IntegrityError), write_transaction(engine) as connection:
        SqlSubscriberRecords(connection).set_owner(other.id, user_id=user.id)
    with write_transaction(engine) as connection:
        SqlSubscriberRecords(connection).set_owner(other.id, name="Bob")
    with SqlSubscriberStore(engine).reading() as reading:
        found = reading.by_id(other.id)
        assert found is not None and (found.name, found.user_id) == ("Bob", None)


def test_forgetting_removes_the_personal_data_and_keeps_the_row(records: SqlSubscriberRecords,
                                                                clock: ManualClock) -> None:
    added = records.add("ann@example.org", S.CONFIRMED, PREFS, link_key="old", source="form", now=clock.now(),
                        name="Ann")
    assert added is not None
    records.forget(added.id, clock.advance(60), "new")
    found = records.by_id(added.id)
    assert found is not None and (found.email, found.name, found.preferences.topics) == (None, "", ())
    assert found.state is S.UNSUBSCRIBED and found.link_key == "new" and found.consented_at is None
    assert records.by_email("ann@example.org") is None and records.page() == []
    assert records.state_counts()["unsubscribed"] == 0  # rows without an address are not counted
    again = records.add("ann@example.org", S.UNCONFIRMED, PREFS, link_key="k", source="form", now=clock.now())
    assert again is not None and again.id != added.id


def test_the_schema_refuses_what_the_domain_would(engine: Engine, clock: ManualClock) -> None:
    base = {"email": "x@example.org", "state": "confirmed", "frequency": "daily", "send_hour": 8,
            "time_zone": "UTC", "link_key": "k", "source": "form", "created_at": clock.now(),
            "updated_at": clock.now(), "requested_at": clock.now()}
    for bad in ({"state": "gone"}, {"frequency": "hourly"}, {"send_hour": 24}, {"send_hour": -1}):
        with pytest.raises(IntegrityError), write_transaction(engine) as connection:
            connection.execute(subscribers.insert().values({**base, **bad}))


def test_topics_are_part_of_the_unit_of_work(engine: Engine, clock: ManualClock) -> None:
    units = SqlUnitOfWork(engine, clock)
    with pytest.raises(RuntimeError), units.begin() as transaction:
        transaction.subscribers.add("ann@example.org", S.UNCONFIRMED, PREFS, link_key="k", source="form",
                                    now=clock.now())
        raise RuntimeError("rolled back")
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(subscribers)).scalar_one() == 0
        assert connection.execute(select(func.count()).select_from(subscriber_topics)).scalar_one() == 0
