"""Papers' popularity on SQLite and PostgreSQL: counted upvotes and saves, external upvotes, and
the points and epoch-anchored score they make, kept per paper in `paper_popularity`.

`PopularityRecords` writes inside the caller's transaction: a vote changes one paper's counts
and score; ingest adds a row for each new paper and moves a changed paper's external upvotes
and announcement with it. Rows to change are locked first (`FOR UPDATE` on PostgreSQL; SQLite's
write transactions are serial), so a vote and an ingest never lose each other's counts.
`SqlPopularityQueries` answers the trending listings from the indexes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, and_, bindparam, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from papercast.domain.papers import Paper
from papercast.domain.trending import Popularity, Standing, TrendingParameters, announced_at
from papercast.storage.engine import as_utc
from papercast.storage.tables import (
    VOTE_COUNTER,
    counters,
    paper_popularity,
    paper_signals,
    papers,
    saves,
    trending_parameters,
    votes,
)

_IN_CHUNK = 900
PARAMETERS_ROW = "scores"
VOTE_SEQUENCE = "vote_seq"  # PostgreSQL's sequence; SQLite counts in `counters`
_COUNTS = (paper_popularity.c.paper_id, paper_popularity.c.upvotes, paper_popularity.c.saves,
           paper_popularity.c.external_upvotes, paper_popularity.c.announced_at)


@dataclass(frozen=True)
class Ranked:
    """One row of a trending listing: the paper's id and its standing."""

    paper_id: str
    standing: Standing
    announced_at: datetime


class PopularityRecords:
    """Popularity rows read and written on `connection`, scored with `parameters`."""

    def __init__(self, connection: Connection, parameters: TrendingParameters) -> None:
        self._connection = connection
        self.parameters = parameters
        # On PostgreSQL the vote sequence moves after the commit (`advance_vote_sequence`).
        self.moved = False

    def follow(self, changed: Sequence[Paper]) -> None:
        """Move the rows of changed papers to their new external upvotes and announcement day,
        rescoring only those whose points or announcement changed."""
        wanted = {paper.paper_id: paper for paper in changed}
        found: set[str] = set()
        rescored: list[dict[str, Any]] = []
        for row in self._locked(list(wanted)):
            found.add(row.paper_id)
            paper = wanted[row.paper_id]
            stored_at = as_utc(row.announced_at)
            assert stored_at is not None
            moment = announced_at(paper.announced_on, stored_at) if paper.announced_on else stored_at
            counts = Popularity(row.upvotes, row.saves, external_upvotes(paper))
            if counts.external_upvotes == row.external_upvotes and moment == stored_at:
                continue
            points, score = self.parameters.standing(counts, moment)
            rescored.append({"key": row.paper_id, "external_upvotes": counts.external_upvotes,
                             "points": points, "announced_at": moment, "score": score})
        if rescored:
            self._connection.execute(
                update(paper_popularity).where(paper_popularity.c.paper_id == bindparam("key"))
                .values(external_upvotes=bindparam("external_upvotes"), points=bindparam("points"),
                        announced_at=bindparam("announced_at"), score=bindparam("score")), rescored)
        missing = [paper_id for paper_id in wanted if paper_id not in found]
        if missing:
            self.recount(missing)

    def get(self, paper_id: str) -> Standing | None:
        """The paper's stored standing; None when there is no such paper."""
        row = self._connection.execute(
            select(*_LISTED).where(paper_popularity.c.paper_id == paper_id)).first()
        if row is None:
            return self.recount([paper_id]).get(paper_id)
        return _ranked(row).standing

    def adjust(self, paper_id: str, *, upvotes: int = 0, saves: int = 0) -> Standing | None:
        """Add to a paper's counted upvotes and saves and rescore it; None when there is no such paper."""
        statement = (update(paper_popularity).where(paper_popularity.c.paper_id == paper_id)
                     .values(upvotes=paper_popularity.c.upvotes + upvotes,
                             saves=paper_popularity.c.saves + saves).returning(*_COUNTS))
        row = self._connection.execute(statement).first()
        if row is None:
            # A paper stored before its row could be made (or by a tool that bypasses ingest):
            # counting its votes makes the row, the change just made included.
            return self.recount([paper_id]).get(paper_id)
        return self._rescore([row])[0][1]

    def adjust_many(self, paper_ids: Sequence[str], *, upvotes: int = 0, saves: int = 0) -> None:
        """`adjust` for many papers (an account disabled or enabled again)."""
        for chunk in _chunks(sorted(set(paper_ids))):
            self._connection.execute(
                update(paper_popularity).where(paper_popularity.c.paper_id.in_(chunk))
                .values(upvotes=paper_popularity.c.upvotes + upvotes, saves=paper_popularity.c.saves + saves))
            self._rescore(list(self._locked(chunk)))

    def rescore(self, after: str, limit: int) -> tuple[str, int] | None:
        """Recompute points and score of up to `limit` papers after `after` (by id) with these
        parameters; the last id done and how many, or None when none were left."""
        rows = list(self._connection.execute(
            select(*_COUNTS).where(paper_popularity.c.paper_id > after)
            .order_by(paper_popularity.c.paper_id).limit(limit).with_for_update()))
        if not rows:
            return None
        self._rescore(rows)
        return str(rows[-1].paper_id), len(rows)

    def recount(self, paper_ids: Sequence[str]) -> dict[str, Standing]:
        """Count each paper's popularity again from its votes, saves and signals, and store it
        (a missing row is made). What a stored row must always equal."""
        standings: dict[str, Standing] = {}
        for chunk in _chunks(sorted(set(paper_ids))):
            for paper_id, counts, moment in _counted(self._connection, chunk):
                points, score = self.parameters.standing(counts, moment)
                row = {"paper_id": paper_id, "upvotes": counts.upvotes, "saves": counts.saves,
                       "external_upvotes": counts.external_upvotes, "points": points,
                       "announced_at": moment, "score": score}
                statement = _insert(self._connection)
                self._connection.execute(statement.on_conflict_do_update(
                    index_elements=[paper_popularity.c.paper_id],
                    set_={key: statement.excluded[key] for key in row if key != "paper_id"}), row)
                standings[paper_id] = Standing(counts, points, score)
        return standings

    def bump_vote_sequence(self) -> None:
        """Move the vote sequence on: on SQLite here (writers are serial anyway); on PostgreSQL
        after the commit, from a sequence, since a counter row would make every vote of the
        install wait for the one before it to commit."""
        if self._connection.dialect.name == "postgresql":
            self.moved = True
            return
        self._connection.execute(update(counters).where(counters.c.name == VOTE_COUNTER)
                                 .values(value=counters.c.value + 1))

    def store_parameters(self, now: datetime) -> None:
        """Record that every stored score was computed with this instance's parameters."""
        values = {"parameters_json": json.dumps(self.parameters.describe(), sort_keys=True),
                  "updated_at": now}
        statement = (_dialect(self._connection).insert(trending_parameters)
                     .values(name=PARAMETERS_ROW, **values))
        self._connection.execute(statement.on_conflict_do_update(
            index_elements=[trending_parameters.c.name], set_=values))
        self.bump_vote_sequence()  # the order of listings changed: cached pages must follow

    def _locked(self, paper_ids: Sequence[str]) -> Iterator[Any]:
        for chunk in _chunks(sorted(paper_ids)):  # sorted: concurrent writers lock in one order
            yield from self._connection.execute(
                select(*_COUNTS).where(paper_popularity.c.paper_id.in_(chunk))
                .order_by(paper_popularity.c.paper_id).with_for_update())

    def _rescore(self, rows: Sequence[Any]) -> list[tuple[str, Standing]]:
        done: list[tuple[str, Standing]] = []
        values: list[dict[str, Any]] = []
        for row in rows:
            counts = Popularity(row.upvotes, row.saves, row.external_upvotes)
            moment = as_utc(row.announced_at)
            assert moment is not None
            points, score = self.parameters.standing(counts, moment)
            done.append((row.paper_id, Standing(counts, points, score)))
            values.append({"key": row.paper_id, "points": points, "score": score})
        if values:
            self._connection.execute(
                update(paper_popularity).where(paper_popularity.c.paper_id == bindparam("key"))
                .values(points=bindparam("points"), score=bindparam("score")), values)
        return done


class SqlPopularityQueries:
    """Reads behind the trending listings, the points beside every listed paper, and the
    vote sequence that response caches follow.

    A listing's total (a count over the index) is kept for `total_ttl` seconds per window: the
    "N papers" of a page may lag a vote by that long; the order never does.
    """

    def __init__(self, engine: Engine, total_ttl: float = 5.0,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._engine = engine
        self._total_ttl = total_ttl
        self._monotonic = monotonic
        self._totals: dict[datetime | None, tuple[int, float]] = {}

    def trending(self, offset: int, limit: int) -> tuple[list[Ranked], int]:
        """Papers with points, highest score first (ties: newer first, then by id)."""
        query = (select(*_LISTED).where(paper_popularity.c.points > 0)
                 .order_by(paper_popularity.c.score.desc(), paper_popularity.c.announced_at.desc(),
                           paper_popularity.c.paper_id.desc()).offset(offset).limit(limit))
        with self._engine.connect() as connection:
            ranked = [_ranked(row) for row in connection.execute(query)]
            return ranked, self._total(connection, None, paper_popularity.c.points > 0)

    def window(self, start: datetime, offset: int, limit: int) -> tuple[list[Ranked], int]:
        """Papers first announced at or after `start`, most points first (ties: newer, then id)."""
        since = paper_popularity.c.announced_at >= start
        query = (select(*_LISTED).where(since)
                 .order_by(paper_popularity.c.points.desc(), paper_popularity.c.announced_at.desc(),
                           paper_popularity.c.paper_id.desc()).offset(offset).limit(limit))
        with self._engine.connect() as connection:
            ranked = [_ranked(row) for row in connection.execute(query)]
            return ranked, self._total(connection, start, since)

    def standings(self, paper_ids: Sequence[str]) -> dict[str, Standing]:
        found: dict[str, Standing] = {}
        with self._engine.connect() as connection:
            for chunk in _chunks(list(dict.fromkeys(paper_ids))):
                rows = connection.execute(select(*_LISTED).where(paper_popularity.c.paper_id.in_(chunk)))
                found.update((row.paper_id, _ranked(row).standing) for row in rows)
        return found

    def papers(self, paper_ids: Sequence[str]) -> dict[str, Paper]:
        from papercast.storage.papers import load_papers

        with self._engine.connect() as connection:
            return load_papers(connection, paper_ids)

    def vote_version(self) -> int:
        with self._engine.connect() as connection:
            if connection.dialect.name == "postgresql":
                # Before its first nextval a sequence shows its start value, as after it.
                statement = f"SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM {VOTE_SEQUENCE}"
                return int(connection.exec_driver_sql(statement).scalar_one())
            value = connection.execute(select(counters.c.value).where(counters.c.name == VOTE_COUNTER))
            return int(value.scalar_one_or_none() or 0)

    def stored_parameters(self) -> dict[str, float] | None:
        with self._engine.connect() as connection:
            text = connection.execute(
                select(trending_parameters.c.parameters_json)
                .where(trending_parameters.c.name == PARAMETERS_ROW)).scalar_one_or_none()
        return None if text is None else dict(json.loads(text))

    def _total(self, connection: Connection, key: datetime | None, condition: Any) -> int:
        now = self._monotonic()
        cached = self._totals.get(key)
        if cached is None or now - cached[1] > self._total_ttl:
            total = int(connection.execute(select(func.count()).select_from(paper_popularity)
                                           .where(condition)).scalar_one())
            if len(self._totals) > 64:  # window starts move daily: forget old ones
                self._totals.clear()
            cached = self._totals[key] = (total, now)
        return cached[0]


_LISTED = (*_COUNTS, paper_popularity.c.points, paper_popularity.c.score)


def _ranked(row: Any) -> Ranked:
    counts = Popularity(row.upvotes, row.saves, row.external_upvotes)
    moment = as_utc(row.announced_at)
    assert moment is not None
    return Ranked(row.paper_id, Standing(counts, float(row.points), float(row.score)), moment)


def advance_vote_sequence(engine: Engine) -> None:
    """PostgreSQL: move the vote sequence on after a vote committed, so that a cache that sees the
    new number also sees the vote (`nextval` is outside transactions and locks nothing)."""
    with engine.connect() as connection:
        connection.exec_driver_sql(f"SELECT nextval('{VOTE_SEQUENCE}')")
        connection.commit()


def new_paper_rows(new_papers: Sequence[Paper], now: datetime,
                   parameters: TrendingParameters) -> list[tuple[Any, ...]]:
    """`paper_popularity` rows (in column order) of papers stored for the first time at `now`:
    no votes yet, their external upvotes, their announcement (or `now`)."""
    rows: list[tuple[Any, ...]] = []
    for paper in new_papers:
        counts = Popularity(external_upvotes=external_upvotes(paper))
        moment = announced_at(paper.announced_on, now)
        points, score = parameters.standing(counts, moment)
        rows.append((paper.paper_id, 0, 0, counts.external_upvotes, points, moment, score))
    return rows


def external_upvotes(paper: Paper) -> int:
    """Upvotes the paper has elsewhere: the sum over its stored signals (Hugging Face today)."""
    return sum(signal.upvotes for signal in paper.signals)


def _counted(connection: Connection, paper_ids: Sequence[str]) -> Iterator[tuple[str, Popularity, datetime]]:
    """Each existing paper's counts from votes, saves and signals, and its announcement instant."""
    def counts(table: Any) -> dict[str, int]:
        rows = connection.execute(select(table.c.paper_id, func.count()).where(
            and_(table.c.paper_id.in_(paper_ids), table.c.counted)).group_by(table.c.paper_id))
        return {row[0]: int(row[1]) for row in rows}

    upvoted, saved = counts(votes), counts(saves)
    external = {row[0]: int(row[1] or 0) for row in connection.execute(
        select(paper_signals.c.paper_id, func.sum(paper_signals.c.upvotes))
        .where(paper_signals.c.paper_id.in_(paper_ids)).group_by(paper_signals.c.paper_id))}
    for row in connection.execute(select(papers.c.id, papers.c.announced_on, papers.c.created_at)
                                  .where(papers.c.id.in_(paper_ids))):
        created = as_utc(row.created_at)
        assert created is not None
        announced_on = row.announced_on.date() if isinstance(row.announced_on, datetime) else row.announced_on
        yield (row.id, Popularity(upvoted.get(row.id, 0), saved.get(row.id, 0), external.get(row.id, 0)),
               announced_at(announced_on, created))


def _insert(connection: Connection) -> Any:
    return _dialect(connection).insert(paper_popularity)


def _dialect(connection: Connection) -> Any:
    return postgresql if connection.dialect.name == "postgresql" else sqlite


def _chunks(items: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), _IN_CHUNK):
        yield items[start : start + _IN_CHUNK]
