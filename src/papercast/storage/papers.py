"""Stored papers on SQLite and PostgreSQL: reads, and batched writes that keep a change sequence.

Writers are serialised on the change counter's row (a row lock on PostgreSQL, the write
lock on SQLite), so `change_seq` order is also commit order: a follower that has seen
sequence N has seen every change up to N.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, Engine, Table, delete, func, select, update

from papercast.clock import Clock
from papercast.domain.papers import Author, ExternalSignal, Outcome, Paper, PaperVersion, author_key
from papercast.domain.trending import TrendingParameters
from papercast.storage.cursors import write_cursor
from papercast.storage.engine import as_utc, write_transaction
from papercast.storage.popularity import PopularityRecords, new_paper_rows
from papercast.storage.tables import (
    PAPER_CHANGE_COUNTER,
    counters,
    paper_authors,
    paper_categories,
    paper_popularity,
    paper_signals,
    paper_versions,
    papers,
)

# SQLite allows 32,766 bound parameters; stay well below for IN lists.
_IN_CHUNK = 900
_CHILD_TABLES = (paper_versions, paper_authors, paper_categories, paper_signals)


class SqlPaperRepository:
    """Papers in a SQL database through SQLAlchemy Core."""

    def __init__(self, engine: Engine, clock: Clock, trending: TrendingParameters | None = None) -> None:
        self._engine = engine
        self._clock = clock
        self._trending = trending or TrendingParameters()

    def get(self, paper_id: str) -> Paper | None:
        return self.get_many([paper_id]).get(paper_id)

    def get_many(self, paper_ids: Sequence[str], *, history: bool = True) -> dict[str, Paper]:
        """Papers by id; without `history` their versions and external signals are left empty
        (one query instead of three, for result lists that show neither)."""
        with self._engine.connect() as connection:
            return load_papers(connection, paper_ids, history=history)

    def count(self) -> int:
        with self._engine.connect() as connection:
            return int(connection.execute(select(func.count()).select_from(papers)).scalar_one())

    def max_change_seq(self) -> int:
        with self._engine.connect() as connection:
            value = connection.execute(select(func.max(papers.c.change_seq))).scalar_one()
            return int(value or 0)

    def changes_after(self, change_seq: int) -> int:
        """How many papers changed after `change_seq` (a follower's lag)."""
        with self._engine.connect() as connection:
            return int(connection.execute(
                select(func.count()).select_from(papers).where(papers.c.change_seq > change_seq)
            ).scalar_one())

    def oldest_change_after(self, change_seq: int) -> datetime | None:
        """When the oldest change after `change_seq` was written, or None when there is none."""
        with self._engine.connect() as connection:
            moment = connection.execute(
                select(papers.c.updated_at).where(papers.c.change_seq > change_seq)
                .order_by(papers.c.change_seq).limit(1)
            ).scalar_one_or_none()
        return as_utc(moment)

    def iter_ids(self) -> Iterator[str]:
        with self._engine.connect() as connection:
            yield from connection.execute(select(papers.c.id).order_by(papers.c.id)).scalars()

    def changed_since(self, change_seq: int, limit: int) -> list[Paper]:
        """Papers whose last change came after `change_seq`, oldest change first."""
        with self._engine.connect() as connection:
            ids = connection.execute(
                select(papers.c.id).where(papers.c.change_seq > change_seq)
                .order_by(papers.c.change_seq).limit(limit)
            ).scalars().all()
            loaded = load_papers(connection, ids)
        return [loaded[paper_id] for paper_id in ids]

    @contextmanager
    def write_batch(self) -> Iterator[PaperWriteBatch]:
        """Read, merge and write papers in one serialised transaction (a unit of work of papers
        alone; `storage.unit_of_work` adds jobs and other stores to the same transaction)."""
        with write_transaction(self._engine) as connection:
            yield PaperWriteBatch.begin(connection, self._clock.now(), self._trending)


class PaperWriteBatch:
    """Paper reads and writes inside a caller's write transaction; open it with `begin`.

    Each paper's popularity row follows it in the same transaction: a new paper gets one, and a
    paper whose external upvotes or announcement day changed is scored again with `trending`.
    """

    def __init__(self, connection: Connection, now: datetime,
                 trending: TrendingParameters | None = None) -> None:
        self._connection = connection
        self._now = now
        self._trending = trending or TrendingParameters()

    @classmethod
    def begin(cls, connection: Connection, now: datetime,
              trending: TrendingParameters | None = None) -> PaperWriteBatch:
        """Lock the change counter first, so that concurrent paper writers queue here and not
        half-way through a batch; then read and write through the batch."""
        connection.execute(
            update(counters).where(counters.c.name == PAPER_CHANGE_COUNTER).values(value=counters.c.value)
        )
        return cls(connection, now, trending)

    def get_many(self, paper_ids: Sequence[str]) -> dict[str, Paper]:
        return load_papers(self._connection, paper_ids)

    def max_change_seq(self) -> int:
        """The newest change sequence: equal to one read before this transaction unless another
        writer changed papers since (ingest merges before taking the lock, and checks this)."""
        return int(self._connection.execute(select(func.max(papers.c.change_seq))).scalar_one() or 0)

    def save(self, changes: Sequence[tuple[Outcome, Paper]]) -> int:
        """Insert new and update changed papers, each with the next change sequence; returns how many."""
        changes = [(outcome, paper) for outcome, paper in changes if outcome is not Outcome.UNCHANGED]
        if not changes:
            return 0
        last = self._connection.execute(
            update(counters).where(counters.c.name == PAPER_CHANGE_COUNTER)
            .values(value=counters.c.value + len(changes)).returning(counters.c.value)
        ).scalar_one()
        first = int(last) - len(changes) + 1
        new_rows: list[tuple[Any, ...]] = []
        updated_ids: list[str] = []
        for offset, (outcome, paper) in enumerate(changes):
            row = _paper_values(paper, first + offset, self._now)
            if outcome is Outcome.NEW:
                new_rows.append(row)
                continue
            updated_ids.append(paper.paper_id)
            values = {k: v for k, v in zip(_PAPER_COLUMNS, row, strict=True) if k not in ("id", "created_at")}
            self._connection.execute(update(papers).where(papers.c.id == paper.paper_id).values(**values))
        bulk_insert(self._connection, papers, new_rows)
        for table in _CHILD_TABLES:
            for chunk in _chunks(updated_ids):
                self._connection.execute(delete(table).where(table.c.paper_id.in_(chunk)))
        self._insert_children([paper for _, paper in changes])
        self._follow_popularity(changes)
        return len(changes)

    def _follow_popularity(self, changes: Sequence[tuple[Outcome, Paper]]) -> None:
        new = [paper for outcome, paper in changes if outcome is Outcome.NEW]
        bulk_insert(self._connection, paper_popularity, new_paper_rows(new, self._now, self._trending))
        updated = [paper for outcome, paper in changes if outcome is Outcome.UPDATED]
        if updated:
            PopularityRecords(self._connection, self._trending).follow(updated)

    def set_cursor(self, name: str, state: dict[str, str]) -> None:
        write_cursor(self._connection, name, state, self._now)

    def _insert_children(self, saved: Sequence[Paper]) -> None:
        # Tuples in each table's column order (see tables.py).
        versions: list[tuple[Any, ...]] = []
        authors: list[tuple[Any, ...]] = []
        categories: list[tuple[Any, ...]] = []
        signals: list[tuple[Any, ...]] = []
        for paper in saved:
            paper_id = paper.paper_id
            versions.extend((paper_id, v.number, v.submitted_at) for v in paper.versions)
            authors.extend((paper_id, i, a.name, author_key(a.name)) for i, a in enumerate(paper.authors))
            categories.extend((paper_id, i, c) for i, c in enumerate(paper.categories))
            signals.extend((paper_id, s.source, s.upvotes, s.comments, s.github_stars, s.observed_on)
                           for s in paper.signals)
        for table, rows in ((paper_versions, versions), (paper_authors, authors),
                            (paper_categories, categories), (paper_signals, signals)):
            bulk_insert(self._connection, table, rows)


def bulk_insert(connection: Connection, table: Table, rows: Sequence[tuple[Any, ...]]) -> None:
    """INSERT rows (tuples in the table's column order) through the driver's executemany.

    SQLAlchemy's own executemany spends more time per row than SQLite does; ingest writes
    about ten rows per paper, so this path is what makes bulk imports fast. SQLAlchemy's type
    conversions are still applied, to the columns that have one.
    """
    if not rows:
        return
    dialect = connection.dialect
    columns = list(table.columns)
    conversions = [
        (index, process) for index, column in enumerate(columns)
        if (process := column.type.dialect_impl(dialect).bind_processor(dialect)) is not None
    ]
    if conversions:
        # A batch repeats many values (its write time, announcement days): convert each once.
        memos: list[dict[Any, Any]] = [{} for _ in conversions]
        converted = []
        for row in rows:
            values = list(row)
            for (index, process), memo in zip(conversions, memos, strict=True):
                value = values[index]
                if value is not None:
                    # Keyed with the zone too: equal instants in two zones are stored differently.
                    key = (value, getattr(value, "tzinfo", None))
                    done = memo.get(key)
                    if done is None:
                        done = memo[key] = process(value)
                    values[index] = done
            converted.append(tuple(values))
        rows = converted
    placeholder = "?" if dialect.paramstyle == "qmark" else "%s"
    quote = dialect.identifier_preparer.quote
    statement = (f"INSERT INTO {quote(table.name)} ({', '.join(quote(c.name) for c in columns)}) "
                 f"VALUES ({', '.join([placeholder] * len(columns))})")
    connection.exec_driver_sql(statement, list(rows))


def load_papers(connection: Connection, paper_ids: Sequence[str], *,
                history: bool = True) -> dict[str, Paper]:
    """Papers by id, with versions and signals (unless not `history`), in as few queries as the
    id list allows."""
    found: dict[str, Paper] = {}
    for chunk in _chunks(list(dict.fromkeys(paper_ids))):
        rows = connection.execute(select(papers).where(papers.c.id.in_(chunk))).mappings().all()
        if not rows:
            continue
        if not history:
            found.update((row["id"], _paper_from_row(row, (), ())) for row in rows)
            continue
        ids = [row["id"] for row in rows]
        versions: dict[str, list[PaperVersion]] = {}
        for v in connection.execute(
            select(paper_versions).where(paper_versions.c.paper_id.in_(ids))
            .order_by(paper_versions.c.paper_id, paper_versions.c.version)
        ).mappings():
            versions.setdefault(v["paper_id"], []).append(
                PaperVersion(v["version"], as_utc(v["submitted_at"]))
            )
        signals: dict[str, list[ExternalSignal]] = {}
        for s in connection.execute(
            select(paper_signals).where(paper_signals.c.paper_id.in_(ids)).order_by(paper_signals.c.source)
        ).mappings():
            signals.setdefault(s["paper_id"], []).append(ExternalSignal(
                source=s["source"], upvotes=s["upvotes"], comments=s["comments"],
                github_stars=s["github_stars"], observed_on=s["observed_on"],
            ))
        for row in rows:
            found[row["id"]] = _paper_from_row(
                row, tuple(versions.get(row["id"], ())), tuple(signals.get(row["id"], ()))
            )
    return found


_PAPER_COLUMNS = tuple(column.name for column in papers.columns)
# json.dumps(..., ensure_ascii=False) builds an encoder per call; ingest calls it once per paper.
_json = json.JSONEncoder(ensure_ascii=False).encode


def _paper_values(paper: Paper, change_seq: int, now: datetime) -> tuple[Any, ...]:
    """The `papers` row of a paper, in column order."""
    return (
        paper.paper_id,
        paper.title,
        paper.abstract,
        _json([a.as_dict() for a in paper.authors]),
        " ".join(paper.categories),
        paper.primary_category,
        paper.comments,
        paper.journal_ref,
        paper.doi,
        paper.report_no,
        paper.license,
        paper.withdrawn,
        paper.latest_version,
        paper.announced_on,
        " ".join(paper.sources),
        paper.content_hash,
        change_seq,
        now,
        now,
    )


def _paper_from_row(
    row: Any, versions: tuple[PaperVersion, ...], signals: tuple[ExternalSignal, ...]
) -> Paper:
    return Paper(
        paper_id=row["id"],
        title=row["title"],
        abstract=row["abstract"],
        authors=tuple(Author(**a) for a in json.loads(row["authors_json"])),
        categories=tuple(row["categories"].split()),
        comments=row["comments"],
        journal_ref=row["journal_ref"],
        doi=row["doi"],
        report_no=row["report_no"],
        license=row["license"],
        withdrawn=bool(row["withdrawn"]),
        versions=versions,
        latest_version=row["latest_version"],
        announced_on=_as_date(row["announced_on"]),
        sources=tuple(row["sources"].split()),
        signals=signals,
        content_hash=row["content_hash"],
        change_seq=int(row["change_seq"]),
        updated_at=as_utc(row["updated_at"]),
    )


def _as_date(value: date | datetime | None) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    return value


def _chunks(items: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), _IN_CHUNK):
        yield items[start : start + _IN_CHUNK]
