"""Digest deliveries on SQLite and PostgreSQL: one row per subscriber and period (the primary key
keeps a second planner out), the outbox's final outcome copied back, counts per period, and the
papers a period announced.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Engine, bindparam, func, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite

from papercast.domain.digests import DeliveryState, PlannedDelivery, SettledDelivery
from papercast.domain.mail import OutboxState
from papercast.domain.papers import Paper
from papercast.storage.engine import write_transaction
from papercast.storage.popularity import SqlPopularityQueries
from papercast.storage.tables import digest_deliveries, mail_outbox, papers

# The outbox's final states, and what they make of a digest delivery.
_FINAL = {OutboxState.SENT.value: DeliveryState.SENT, OutboxState.FAILED.value: DeliveryState.FAILED,
          OutboxState.EXPIRED.value: DeliveryState.EXPIRED}


class SqlDigestStore:
    """Digest deliveries over `engine`; `add` joins the caller's unit of work."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def add(self, connection: Any, delivery: PlannedDelivery, now: datetime) -> bool:
        """Record a planned digest inside the caller's transaction; False when that subscriber's
        period has one already (another planner was first)."""
        dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
        statement = dialect.insert(digest_deliveries).values(
            subscriber_id=delivery.subscriber_id, period=delivery.period, state=delivery.state.value,
            outbox_id=delivery.outbox_id, papers=delivery.papers, send_at=delivery.send_at, planned_at=now,
        ).on_conflict_do_nothing().returning(digest_deliveries.c.subscriber_id)
        return connection.execute(statement).scalar_one_or_none() is not None

    def planned(self, keys: Sequence[tuple[int, str]]) -> set[tuple[int, str]]:
        """Which of (subscriber id, period) have a delivery: one indexed read for a page."""
        if not keys:
            return set()
        with self._engine.connect() as connection:
            rows = connection.execute(
                select(digest_deliveries.c.subscriber_id, digest_deliveries.c.period)
                .where(tuple_(digest_deliveries.c.subscriber_id, digest_deliveries.c.period).in_(list(keys))))
            return {(int(row[0]), str(row[1])) for row in rows}

    def announced(self, first: date, last: date) -> list[str]:
        """Ids of the papers first announced from `first` to `last` (inclusive), not withdrawn."""
        with self._engine.connect() as connection:
            rows = connection.execute(
                select(papers.c.id).where(papers.c.announced_on.between(first, last),
                                          papers.c.withdrawn.is_(False)).order_by(papers.c.id))
            return [str(row[0]) for row in rows]

    def finished(self, limit: int) -> list[SettledDelivery]:
        """Queued deliveries whose outbox message is final (sent, failed, expired) or gone."""
        joined = digest_deliveries.outerjoin(mail_outbox, mail_outbox.c.id == digest_deliveries.c.outbox_id)
        outbox_state = mail_outbox.c.state
        query = (select(digest_deliveries.c.subscriber_id, digest_deliveries.c.period, outbox_state,
                        mail_outbox.c.last_smtp_code)
                 .select_from(joined)
                 .where(digest_deliveries.c.state == DeliveryState.QUEUED.value,
                        outbox_state.is_(None) | outbox_state.in_(list(_FINAL)))
                 .limit(limit))
        with self._engine.connect() as connection:
            return [SettledDelivery(int(row[0]), str(row[1]),
                                    _FINAL.get(row[2] or "", DeliveryState.CANCELLED), row[3])
                    for row in connection.execute(query)]

    def settle(self, deliveries: Sequence[SettledDelivery], now: datetime) -> list[SettledDelivery]:
        """Copy final outcomes onto their deliveries, in one transaction (once: only a queued one
        changes); the deliveries that changed."""
        statement = (update(digest_deliveries)
                     .where(digest_deliveries.c.subscriber_id == bindparam("key_subscriber"),
                            digest_deliveries.c.period == bindparam("key_period"),
                            digest_deliveries.c.state == DeliveryState.QUEUED.value)
                     .values(state=bindparam("new_state"), smtp_code=bindparam("new_code"), settled_at=now))
        changed = []
        with write_transaction(self._engine) as connection:
            for delivery in deliveries:
                result = connection.execute(statement, {
                    "key_subscriber": delivery.subscriber_id, "key_period": delivery.period,
                    "new_state": delivery.state.value, "new_code": delivery.smtp_code})
                if result.rowcount:
                    changed.append(delivery)
        return changed

    def recent_outcomes(self, subscriber_id: int, limit: int) -> list[tuple[DeliveryState, int | None]]:
        """The subscriber's latest settled deliveries, newest first (state, SMTP code)."""
        settled = [state.value for state in DeliveryState if state.final]
        with self._engine.connect() as connection:
            rows = connection.execute(
                select(digest_deliveries.c.state, digest_deliveries.c.smtp_code)
                .where(digest_deliveries.c.subscriber_id == subscriber_id,
                       digest_deliveries.c.state.in_(settled),
                       digest_deliveries.c.state != DeliveryState.SKIPPED_EMPTY.value)
                .order_by(digest_deliveries.c.send_at.desc()).limit(limit))
            return [(DeliveryState(row[0]), row[1]) for row in rows]

    def counts(self, period: str) -> dict[str, int]:
        """Deliveries of `period` per state; queued ones split by their message's state now
        (`queued`, `sending`), so a run in progress shows how far it is."""
        counts = dict.fromkeys([state.value for state in DeliveryState] + ["sending"], 0)
        joined = digest_deliveries.outerjoin(mail_outbox, mail_outbox.c.id == digest_deliveries.c.outbox_id)
        with self._engine.connect() as connection:
            rows = connection.execute(
                select(digest_deliveries.c.state, mail_outbox.c.state, func.count())
                .select_from(joined).where(digest_deliveries.c.period == period)
                .group_by(digest_deliveries.c.state, mail_outbox.c.state))
            for state, outbox_state, count in rows:
                key = state
                if state == DeliveryState.QUEUED.value and outbox_state in _FINAL:
                    key = _FINAL[outbox_state].value  # final in the outbox, not copied back yet
                elif state == DeliveryState.QUEUED.value and outbox_state == OutboxState.SENDING.value:
                    key = "sending"
                counts[key] += int(count)
        return counts

    def latest_period(self) -> str | None:
        """The period of the digest planned last; None before the first."""
        with self._engine.connect() as connection:
            row = connection.execute(select(digest_deliveries.c.period)
                                     .order_by(digest_deliveries.c.planned_at.desc()).limit(1)).first()
        return None if row is None else str(row[0])


class SqlTrendingPapers:
    """The trending section's papers: first announced since an instant, with at least one point,
    most points first (the stored popularity the trending lists rank by)."""

    def __init__(self, queries: SqlPopularityQueries) -> None:
        self._queries = queries

    def since(self, start: datetime, limit: int) -> list[Paper]:
        ranked, _ = self._queries.window(start, 0, limit)
        ids = [row.paper_id for row in ranked if row.standing.points > 0]
        loaded = self._queries.papers(ids)
        return [loaded[paper_id] for paper_id in ids if paper_id in loaded]
