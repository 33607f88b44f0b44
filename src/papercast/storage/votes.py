"""Readers' upvotes and saves on SQLite and PostgreSQL, with the counts they make kept in the
same transaction, and the recent actions the rate limits count.

`VoteRecords` works on the caller's connection (a unit of work's `transaction.votes`). One row
per reader and paper in `votes` and in `saves` (the primary key), inserted with `ON CONFLICT DO
NOTHING` and deleted by key, so a repeated or concurrent request changes a count at most once:
the count moves only when a row really was inserted or deleted. The voter's `users` row is
locked first (`FOR UPDATE`): one account's votes, its rate-limit check and a disabling of the
account happen one after another, never interleaved.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, Table, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from papercast.domain.accounts import UserState
from papercast.domain.trending import Mark, Standing, TrendingParameters
from papercast.domain.votes import LONGEST_PERIOD
from papercast.storage.engine import as_utc
from papercast.storage.popularity import PopularityRecords
from papercast.storage.tables import saves, users, vote_actions, votes

# Old actions are deleted a few at a time by the votes that come after them, so no task is
# needed and no vote pays for a large deletion.
PRUNE_PER_ACTION = 50
_TABLES: dict[Mark, Table] = {Mark.UPVOTE: votes, Mark.SAVE: saves}


class VoteRecords:
    """Votes, saves and actions read and written on `connection` (inside the caller's transaction)."""

    def __init__(self, connection: Connection, parameters: TrendingParameters) -> None:
        self._connection = connection
        self.popularity = PopularityRecords(connection, parameters)

    def lock_voter(self, user_id: int) -> UserState | None:
        """Lock the account's row until the transaction ends, and say its state (None: no account)."""
        state = self._connection.execute(
            select(users.c.state).where(users.c.id == user_id).with_for_update()).scalar_one_or_none()
        return None if state is None else UserState(state)

    def set_mark(self, mark: Mark, user_id: int, paper_id: str, on: bool, now: datetime) -> bool:
        """Add or remove the reader's upvote or save; whether anything changed. The paper's
        counts follow in this transaction (`counted` marks are the active account's)."""
        table = _TABLES[mark]
        if on:
            statement = (_dialect(self._connection).insert(table)
                         .values(user_id=user_id, paper_id=paper_id, counted=True, created_at=now)
                         .on_conflict_do_nothing(index_elements=[table.c.user_id, table.c.paper_id])
                         .returning(table.c.counted))
            counted = self._connection.execute(statement).scalar_one_or_none()
        else:
            statement = delete(table).where(table.c.user_id == user_id,
                                            table.c.paper_id == paper_id).returning(table.c.counted)
            counted = self._connection.execute(statement).scalar_one_or_none()
        if counted is None:
            return False
        if counted:
            delta = 1 if on else -1
            if mark is Mark.UPVOTE:
                self.popularity.adjust(paper_id, upvotes=delta)
            else:
                self.popularity.adjust(paper_id, saves=delta)
            self.popularity.bump_vote_sequence()
        return True

    def marks_of(self, user_id: int, paper_ids: Sequence[str]) -> dict[str, set[Mark]]:
        """Which of `paper_ids` the reader has upvoted and saved."""
        found: dict[str, set[Mark]] = {}
        unique = list(dict.fromkeys(paper_ids))
        for mark, table in _TABLES.items():
            for start in range(0, len(unique), 900):
                chunk = unique[start:start + 900]
                for paper_id in self._connection.execute(select(table.c.paper_id).where(
                        table.c.user_id == user_id, table.c.paper_id.in_(chunk))).scalars():
                    found.setdefault(paper_id, set()).add(mark)
        return found

    def standing(self, paper_id: str) -> Standing | None:
        """The paper's stored standing (None: no such paper)."""
        return self.popularity.get(paper_id)

    # -- rate limits -------------------------------------------------------------------------

    def nth_newest_action(self, n: int, since: datetime, *, user_id: int | None = None,
                          address_hash: str | None = None) -> datetime | None:
        """When the `n`-th newest action after `since` of the account (or address) happened;
        None when it made fewer than `n`."""
        condition = (vote_actions.c.user_id == user_id if user_id is not None
                     else vote_actions.c.address_hash == address_hash)
        moment = self._connection.execute(
            select(vote_actions.c.at).where(condition, vote_actions.c.at > since)
            .order_by(vote_actions.c.at.desc()).offset(n - 1).limit(1)).scalar_one_or_none()
        return as_utc(moment)

    def record_action(self, user_id: int, address_hash: str, now: datetime) -> None:
        """Count one change against the account and the address; forget a few expired actions."""
        self._connection.execute(
            vote_actions.insert().values(user_id=user_id, address_hash=address_hash, at=now))
        expired = (select(vote_actions.c.id).where(vote_actions.c.at < now - LONGEST_PERIOD)
                   .limit(PRUNE_PER_ACTION).scalar_subquery())
        self._connection.execute(delete(vote_actions).where(vote_actions.c.id.in_(expired)))

    # -- accounts in and out of good standing ------------------------------------------------

    def stop_counting(self, user_id: int) -> int:
        """The account's upvotes and saves stop counting (it was disabled); they are kept. Returns
        how many papers' counts changed."""
        return self._set_counted(user_id, False)

    def resume_counting(self, user_id: int) -> int:
        """The account's upvotes and saves count again (it was enabled again)."""
        return self._set_counted(user_id, True)

    def _set_counted(self, user_id: int, counted: bool) -> int:
        delta = 1 if counted else -1
        changed: set[str] = set()
        for mark, table in _TABLES.items():
            paper_ids = list(self._connection.execute(
                update(table).where(table.c.user_id == user_id, table.c.counted.is_(not counted))
                .values(counted=counted).returning(table.c.paper_id)).scalars())
            if mark is Mark.UPVOTE:
                self.popularity.adjust_many(paper_ids, upvotes=delta)
            else:
                self.popularity.adjust_many(paper_ids, saves=delta)
            changed.update(paper_ids)
        if changed:
            self.popularity.bump_vote_sequence()
        return len(changed)


class SqlVoteStore:
    """Reads of votes and saves outside a unit of work: a page's marks, the reader's library."""

    def __init__(self, engine: Engine, parameters: TrendingParameters) -> None:
        self._engine = engine
        self._parameters = parameters

    @contextmanager
    def reading(self) -> Iterator[VoteRecords]:
        with self._engine.connect() as connection:
            yield VoteRecords(connection, self._parameters)

    def library(self, user_id: int, offset: int, limit: int) -> tuple[list[tuple[str, datetime]], int]:
        """The reader's saved papers (id, when saved), newest save first, and how many there are."""
        with self._engine.connect() as connection:
            rows = connection.execute(
                select(saves.c.paper_id, saves.c.created_at).where(saves.c.user_id == user_id)
                .order_by(saves.c.created_at.desc(), saves.c.paper_id.desc()).offset(offset).limit(limit))
            found = [(row.paper_id, _utc(row.created_at)) for row in rows]
            total = int(connection.execute(select(func.count()).select_from(saves)
                                           .where(saves.c.user_id == user_id)).scalar_one())
        return found, total


def _utc(value: Any) -> datetime:
    moment = as_utc(value)
    assert moment is not None
    return moment


def _dialect(connection: Connection) -> Any:
    return postgresql if connection.dialect.name == "postgresql" else sqlite
