"""Read queries behind the listing pages: recent papers, an author's, a category's, and a plain
text match for when the search indexes are unavailable. Each returns one page of papers and a total.

Newest first everywhere: by announcement date, then by change sequence; papers without a date
come last (newest stored first). Dated and undated papers are read as two segments so that both
engines can walk the `announced_on` index instead of sorting the catalog (`NULLS LAST` would
defeat PostgreSQL's backward index scan). A large category is read by walking that index and
keeping its members, which stops after a page; a small one is read through its own index and
sorted, which touches only its rows.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Engine, and_, exists, func, or_, select, true
from sqlalchemy.exc import OperationalError

from papercast.domain.errors import InvalidInput
from papercast.domain.papers import Paper
from papercast.storage.papers import load_papers
from papercast.storage.tables import paper_authors, paper_categories, papers

# The plain text match counts its results up to here (a count reads every row), and gives up
# after this many seconds (it reads every title and abstract for a rare word).
TEXT_MATCH_COUNT_MAX = 1_000
TEXT_MATCH_SECONDS = 3.0
# Sets up to this size are read as id lists (well under SQLite's 32,766 bound parameters).
MEMBER_LIST_MAX = 2_000


class SqlListingQueries:
    """Paged reads of the catalog through SQLAlchemy Core, on SQLite and PostgreSQL.

    The size of the whole catalog (counting 100,000 rows takes PostgreSQL 10-20 ms) is kept for
    `size_ttl` seconds: "N papers" on the home page may lag an ingest by that long.
    """

    def __init__(self, engine: Engine, size_ttl: float = 10.0,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._engine = engine
        self._size_ttl = size_ttl
        self._monotonic = monotonic
        self._size: tuple[int, float] | None = None

    def recent(self, since: date | None, offset: int, limit: int) -> tuple[list[Paper], int]:
        """Papers announced (or, without a date, stored) on or after `since`, newest first."""
        condition: ColumnElement[bool] = true()
        with self._engine.connect() as connection:
            if since is None:
                total = self._catalog_size(connection)
            else:
                condition = _since(since)
                total = _count(connection, select(func.count()).select_from(papers).where(condition))
            return _page(connection, condition, total, offset, limit), total

    def _catalog_size(self, connection: Connection) -> int:
        now = self._monotonic()
        if self._size is None or now - self._size[1] > self._size_ttl:
            self._size = (_count(connection, select(func.count()).select_from(papers)), now)
        return self._size[0]

    def by_author(self, name_key: str, offset: int, limit: int) -> tuple[list[Paper], int]:
        authored = select(paper_authors.c.paper_id).where(paper_authors.c.name_key == name_key)
        with self._engine.connect() as connection:
            total = _count(connection, select(func.count(paper_authors.c.paper_id.distinct()))
                           .where(paper_authors.c.name_key == name_key))
            return _page(connection, _members(connection, authored, total), total, offset, limit), total

    def author_name(self, name_key: str) -> str | None:
        """The display spelling of an author, as most of their papers write it."""
        query = (
            select(paper_authors.c.name, func.count().label("uses"))
            .where(paper_authors.c.name_key == name_key)
            .group_by(paper_authors.c.name).order_by(func.count().desc(), paper_authors.c.name).limit(1)
        )
        with self._engine.connect() as connection:
            row = connection.execute(query).first()
        return None if row is None else str(row[0])

    def by_category(self, category: str, offset: int, limit: int) -> tuple[list[Paper], int]:
        """Papers listed in `category` (primary or cross-list), newest first."""
        in_category = paper_categories.c.category == category
        with self._engine.connect() as connection:
            total = _count(connection, select(func.count()).select_from(paper_categories).where(in_category))
            condition: ColumnElement[bool]
            if _worth_scanning(total, offset + limit, self._catalog_size(connection)):
                # Probe each paper's own categories (its primary key), not the category's index.
                unindexed = paper_categories.c.category.concat("") == category
                condition = exists().where(paper_categories.c.paper_id == papers.c.id, unindexed)
            else:
                listed = select(paper_categories.c.paper_id).where(in_category)
                condition = _members(connection, listed, total)
            return _page(connection, condition, total, offset, limit), total

    def matching_text(self, terms: Sequence[str], offset: int, limit: int) -> tuple[list[Paper], int]:
        """Papers whose title or abstract contains every term (case-insensitive substring), newest
        first. Every row is read to test it, so the count stops at `TEXT_MATCH_COUNT_MAX`."""
        condition = and_(true(), *(
            or_(func.lower(papers.c.title).contains(term.lower(), autoescape=True),
                func.lower(papers.c.abstract).contains(term.lower(), autoescape=True))
            for term in terms
        ))
        capped = select(papers.c.id).where(condition).limit(TEXT_MATCH_COUNT_MAX).subquery()
        with self._engine.connect() as connection:
            try:
                with _time_limit(connection, TEXT_MATCH_SECONDS):
                    total = _count(connection, select(func.count()).select_from(capped))
                    return _page(connection, condition, total, offset, limit), total
            except OperationalError as error:
                raise InvalidInput(f"searching for {' '.join(terms)!r} without the search index took too "
                                   "long; use more specific words", field="q") from error

    def in_category_except(self, category: str, paper_id: str, limit: int) -> list[Paper]:
        """The newest papers whose primary category is `category`, leaving out `paper_id`."""
        primary = papers.c.primary_category == category
        with self._engine.connect() as connection:
            total = _count(connection, select(func.count()).select_from(papers).where(primary))
            if _worth_scanning(total, limit + 1, self._catalog_size(connection)):
                # An expression, so the planner walks the date index instead of the category's.
                primary = papers.c.primary_category.concat("") == category
            return _page(connection, and_(primary, papers.c.id != paper_id), total, 0, limit)

    def papers(self, paper_ids: Sequence[str]) -> dict[str, Paper]:
        with self._engine.connect() as connection:
            return load_papers(connection, paper_ids)

    def catalog_version(self) -> int:
        """The newest change sequence: it moves on with every write to any paper."""
        with self._engine.connect() as connection:
            return int(connection.execute(select(func.max(papers.c.change_seq))).scalar_one() or 0)


def _members(connection: Connection, member_ids: Any, total: int) -> ColumnElement[bool]:
    """`papers.id IN (…)`: a small set as a list of ids, read first, so that no planner walks
    the whole date index looking for a few members; a large one as a subquery."""
    if total <= MEMBER_LIST_MAX:
        return papers.c.id.in_(list(connection.execute(member_ids).scalars()))
    return papers.c.id.in_(member_ids)


@contextmanager
def _time_limit(connection: Connection, seconds: float) -> Iterator[None]:
    """Abort the statements run inside after `seconds` (an `OperationalError` is raised)."""
    if connection.dialect.name == "postgresql":
        # Lasts until the end of the connection's transaction, which closing it rolls back.
        connection.exec_driver_sql(f"SET LOCAL statement_timeout = {max(1, int(seconds * 1000))}")
        yield
        return
    raw: Any = connection.connection.driver_connection  # the sqlite3 connection
    deadline = time.monotonic() + seconds
    raw.set_progress_handler(lambda: int(time.monotonic() > deadline), 1_000)
    try:
        yield
    finally:
        raw.set_progress_handler(None, 0)


def _count(connection: Connection, query: Any) -> int:
    return int(connection.execute(query).scalar_one())


def _worth_scanning(members: int, wanted: int, everything: int) -> bool:
    """Whether walking the newest of `everything` papers reaches `wanted` of a set's `members` in
    fewer rows than reading and sorting the whole set (both cost about the same per row)."""
    return members > 0 and wanted * everything / members < members


def _page(connection: Connection, condition: ColumnElement[bool], total: int, offset: int,
          limit: int) -> list[Paper]:
    """One page of papers matching `condition`: dated ones newest first, then undated ones."""
    dated = and_(condition, papers.c.announced_on.is_not(None))
    ids: list[str] = list(connection.execute(
        select(papers.c.id).where(dated).order_by(papers.c.announced_on.desc(), papers.c.change_seq.desc())
        .offset(offset).limit(limit)).scalars())
    if len(ids) < limit and offset + len(ids) < total:
        dated_total = _count(connection, select(func.count()).select_from(papers).where(dated))
        undated = and_(condition, papers.c.announced_on.is_(None))
        ids += connection.execute(
            select(papers.c.id).where(undated).order_by(papers.c.change_seq.desc())
            .offset(max(0, offset - dated_total)).limit(limit - len(ids))).scalars()
    loaded = load_papers(connection, ids)
    return [loaded[paper_id] for paper_id in ids if paper_id in loaded]


def _since(day: date) -> ColumnElement[bool]:
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return or_(papers.c.announced_on >= day,
               and_(papers.c.announced_on.is_(None), papers.c.updated_at >= start))
