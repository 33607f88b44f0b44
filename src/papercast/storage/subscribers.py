"""Digest subscribers on SQLite and PostgreSQL: the subscription, its topics in order, its state.

`SqlSubscriberRecords` reads and writes on one connection, so the same code serves a read
(`SqlSubscriberStore.reading()`) and a unit of work's transaction (`transaction.subscribers`),
where a subscription commits with its confirmation mail. Times are UTC.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, Row, delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from papercast.domain.subscriptions import Frequency, Preferences, Subscriber, SubscriberState
from papercast.storage.engine import as_utc
from papercast.storage.tables import subscriber_topics, subscribers

# The time column each state records when a subscription enters it.
_STATE_TIMES = {SubscriberState.CONFIRMED: "confirmed_at", SubscriberState.UNSUBSCRIBED: "unsubscribed_at",
                SubscriberState.SUPPRESSED: "suppressed_at"}


class SqlSubscriberRecords:
    """Subscriber rows read and written on `connection` (inside the caller's transaction)."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def add(self, email: str, state: SubscriberState, preferences: Preferences, *, link_key: str, source: str,
            now: datetime, name: str = "", user_id: int | None = None,
            consented_at: datetime | None = None) -> Subscriber | None:
        """A new subscriber for `email` (normalised), or None when the address has one already."""
        dialect = postgresql if self._connection.dialect.name == "postgresql" else sqlite
        values: dict[str, Any] = {
            "email": email, "name": name, "user_id": user_id, "state": state.value, "link_key": link_key,
            "source": source, "created_at": now, "updated_at": now, "requested_at": now,
            "consented_at": consented_at, **_preference_values(preferences)}
        if state in _STATE_TIMES:
            values[_STATE_TIMES[state]] = now
        statement = (dialect.insert(subscribers).values(**values)
                     .on_conflict_do_nothing(index_elements=[subscribers.c.email]).returning(subscribers.c.id))
        subscriber_id = self._connection.execute(statement).scalar_one_or_none()
        if subscriber_id is None:
            return None
        self._write_topics(int(subscriber_id), preferences.topics)
        return self.by_id(int(subscriber_id))

    def by_id(self, subscriber_id: int) -> Subscriber | None:
        return self._one(subscribers.c.id == subscriber_id)

    def by_ids(self, subscriber_ids: Collection[int], *, lock: bool = False) -> dict[int, Subscriber]:
        """The subscribers of `subscriber_ids` that exist, by id: one query for the rows, one for
        their topics. `lock` holds their rows until the transaction ends (`FOR UPDATE` on
        PostgreSQL, in id order; SQLite's write transaction holds the whole database already), so
        a change to them (an unsubscribe) waits for this transaction, or this read waits for it."""
        if not subscriber_ids:
            return {}
        query = select(subscribers).where(subscribers.c.id.in_(list(subscriber_ids)))
        if lock:
            query = query.order_by(subscribers.c.id).with_for_update()
        rows = self._connection.execute(query).all()
        return {subscriber.id: subscriber for subscriber in self._with_topics(rows)}

    def by_email(self, email: str) -> Subscriber | None:
        return self._one(subscribers.c.email == email)

    def by_user(self, user_id: int) -> Subscriber | None:
        return self._one(subscribers.c.user_id == user_id)

    def page(self, *, states: Collection[SubscriberState] = (), after_id: int = 0,
             limit: int = 1000) -> list[Subscriber]:
        """Subscribers with an address, in id order after `after_id` (keyset paging), of `states`
        (all when empty): one query for the rows and one for their topics."""
        condition = (subscribers.c.id > after_id) & subscribers.c.email.is_not(None)
        if states:
            condition = condition & subscribers.c.state.in_([state.value for state in states])
        rows = self._connection.execute(select(subscribers).where(condition)
                                        .order_by(subscribers.c.id).limit(limit)).all()
        return self._with_topics(rows)

    def state_counts(self) -> dict[str, int]:
        """Subscribers with an address per state, every state present."""
        counts = dict.fromkeys((state.value for state in SubscriberState), 0)
        for state, count in self._connection.execute(
                select(subscribers.c.state, func.count()).where(subscribers.c.email.is_not(None))
                .group_by(subscribers.c.state)):
            counts[state] = int(count)
        return counts

    def set_preferences(self, subscriber_id: int, preferences: Preferences, now: datetime, *,
                        requested: bool = False) -> None:
        """Replace the preferences; `requested` marks a new subscribe request (confirmation
        links sent before it no longer confirm)."""
        values: dict[str, Any] = {"updated_at": now, **_preference_values(preferences)}
        if requested:
            values["requested_at"] = now
        self._update(subscriber_id, values)
        self._write_topics(subscriber_id, preferences.topics)

    def set_state(self, subscriber_id: int, state: SubscriberState, now: datetime, *, reason: str = "",
                  consented_at: datetime | None = None) -> None:
        """Move to `state` (the service checked the transition), recording when and why."""
        values: dict[str, Any] = {"state": state.value, "updated_at": now, "state_reason": reason[:200]}
        if state in _STATE_TIMES:
            values[_STATE_TIMES[state]] = now
        if consented_at is not None:
            values["consented_at"] = consented_at
        self._update(subscriber_id, values)

    def set_owner(self, subscriber_id: int, *, name: str | None = None, user_id: int | None = None) -> None:
        """Set the display name and/or the account the subscription belongs to."""
        values: dict[str, Any] = {}
        if name is not None:
            values["name"] = name
        if user_id is not None:
            values["user_id"] = user_id
        if values:
            self._update(subscriber_id, values)

    def forget(self, subscriber_id: int, now: datetime, new_link_key: str) -> None:
        """Remove the personal data: address, name, account, topics; old links stop working (a new
        key). The row stays, unsubscribed, for what refers to its id."""
        self._write_topics(subscriber_id, ())
        self._update(subscriber_id, {
            "email": None, "name": "", "user_id": None, "link_key": new_link_key, "state_reason": "removed",
            "state": SubscriberState.UNSUBSCRIBED.value, "updated_at": now, "unsubscribed_at": now,
            "consented_at": None})

    def _update(self, subscriber_id: int, values: dict[str, Any]) -> None:
        self._connection.execute(update(subscribers).where(subscribers.c.id == subscriber_id)
                                 .values(**values))

    def _one(self, condition: Any) -> Subscriber | None:
        row = self._connection.execute(select(subscribers).where(condition)).first()
        return None if row is None else self._with_topics([row])[0]

    def _with_topics(self, rows: Sequence[Row[Any]]) -> list[Subscriber]:
        topics: dict[int, list[str]] = {row.id: [] for row in rows}
        if topics:
            for subscriber_id, query in self._connection.execute(
                    select(subscriber_topics.c.subscriber_id, subscriber_topics.c.query)
                    .where(subscriber_topics.c.subscriber_id.in_(list(topics)))
                    .order_by(subscriber_topics.c.subscriber_id, subscriber_topics.c.position)):
                topics[subscriber_id].append(query)
        return [_subscriber(row, tuple(topics[row.id])) for row in rows]

    def _write_topics(self, subscriber_id: int, topics: Sequence[str]) -> None:
        owned = subscriber_topics.c.subscriber_id == subscriber_id
        self._connection.execute(delete(subscriber_topics).where(owned))
        if topics:
            self._connection.execute(insert(subscriber_topics), [
                {"subscriber_id": subscriber_id, "position": position, "query": query}
                for position, query in enumerate(topics)])


class SqlSubscriberStore:
    """Reads of subscribers outside a unit of work."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @contextmanager
    def reading(self) -> Iterator[SqlSubscriberRecords]:
        with self._engine.connect() as connection:
            yield SqlSubscriberRecords(connection)


def _preference_values(preferences: Preferences) -> dict[str, Any]:
    return {"frequency": preferences.frequency.value, "send_hour": preferences.send_hour,
            "time_zone": preferences.time_zone}


def _subscriber(row: Row[Any], topics: tuple[str, ...]) -> Subscriber:
    preferences = Preferences(topics, Frequency(row.frequency), row.send_hour, row.time_zone)
    return Subscriber(
        id=row.id, email=row.email, name=row.name, user_id=row.user_id, state=SubscriberState(row.state),
        preferences=preferences, link_key=row.link_key, source=row.source, created_at=_utc(row.created_at),
        requested_at=_utc(row.requested_at), confirmed_at=as_utc(row.confirmed_at),
        consented_at=as_utc(row.consented_at), unsubscribed_at=as_utc(row.unsubscribed_at),
        suppressed_at=as_utc(row.suppressed_at), state_reason=row.state_reason)


def _utc(value: datetime) -> datetime:
    aware = as_utc(value)
    assert aware is not None
    return aware
