"""Listing use cases: recent papers, an author's papers, a category's papers, papers by id.

Every listing is one page (`offset`, `limit`) with the total it was cut from, so pages and the
JSON API can link to the previous and next page. Limits are checked here, once for every edge.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from papercast.domain.errors import InvalidInput, NotFound
from papercast.domain.papers import Paper, author_key, clean_text
from papercast.ports import ListingQueries

MAX_LIMIT = 100
# Deep offsets cost a scan each; nobody pages through ten thousand papers by hand.
MAX_OFFSET = 10_000
MAX_AUTHOR_NAME = 300
MAX_TEXT_TERMS = 8
CATEGORY_PATTERN = r"^[A-Za-z-]{1,20}(?:\.[A-Za-z-]{1,20})?$"
_CATEGORY = re.compile(CATEGORY_PATTERN)
_WORD = re.compile(r"[^\W_]+(?:[-.'][^\W_]+)*")


@dataclass(frozen=True)
class PaperPage:
    """One page of a listing and the size of the whole listing."""

    papers: tuple[Paper, ...]
    total: int
    offset: int
    limit: int

    @property
    def has_previous(self) -> bool:
        return self.offset > 0

    @property
    def has_next(self) -> bool:
        return self.offset + self.limit < self.total and self.offset + self.limit <= MAX_OFFSET


@dataclass(frozen=True)
class AuthorPapers:
    name: str
    key: str
    page: PaperPage


class ListingService:
    def __init__(self, queries: ListingQueries) -> None:
        self._queries = queries

    def recent(self, since: date | None = None, offset: int = 0, limit: int = 20) -> PaperPage:
        """The newest papers, optionally only those announced on or after `since`."""
        check_window(offset, limit)
        found, total = self._queries.recent(since, offset, limit)
        return PaperPage(tuple(found), total, offset, limit)

    def by_author(self, name: str, offset: int = 0, limit: int = 20) -> AuthorPapers:
        """An author's papers, newest first; `NotFound` when the catalog has none."""
        check_window(offset, limit)
        key = author_key(name)
        if not key or len(key) > MAX_AUTHOR_NAME:
            raise InvalidInput("an author name of 1 to 300 characters is needed", field="name")
        display = self._queries.author_name(key)
        if display is None:
            raise NotFound(f"no papers by {clean_text(name)!r} in the catalog")
        found, total = self._queries.by_author(key, offset, limit)
        return AuthorPapers(display, key, PaperPage(tuple(found), total, offset, limit))

    def by_category(self, category: str, offset: int = 0, limit: int = 20) -> PaperPage:
        """Papers listed in `category` (primary or cross-list), newest first."""
        check_window(offset, limit)
        found, total = self._queries.by_category(check_category(category), offset, limit)
        return PaperPage(tuple(found), total, offset, limit)

    def papers(self, paper_ids: Sequence[str]) -> list[Paper]:
        """The stored papers among `paper_ids`, in the order given."""
        loaded = self._queries.papers(paper_ids)
        return [loaded[paper_id] for paper_id in paper_ids if paper_id in loaded]

    def catalog_version(self) -> int:
        """A number that changes whenever any paper does (for caches of rendered listings)."""
        return self._queries.catalog_version()

    def related(self, paper: Paper, limit: int = 5) -> list[Paper]:
        """The newest other papers of the same primary category (a stand-in for similarity)."""
        if not paper.primary_category:
            return []
        return self._queries.in_category_except(paper.primary_category, paper.paper_id, limit)

    def text_search(self, query_text: str, offset: int = 0, limit: int = 20) -> PaperPage:
        """Papers containing every word of `query_text`, newest first: the search of last resort."""
        check_window(offset, limit)
        terms = list(dict.fromkeys(w.lower() for w in _WORD.findall(query_text or "")))[:MAX_TEXT_TERMS]
        if not terms:
            return PaperPage((), 0, offset, limit)
        found, total = self._queries.matching_text(terms, offset, limit)
        return PaperPage(tuple(found), total, offset, limit)


def check_window(offset: int, limit: int) -> None:
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT}", field="limit")
    if not 0 <= offset <= MAX_OFFSET:
        raise InvalidInput(f"offset must be between 0 and {MAX_OFFSET}", field="offset")


def check_category(category: str) -> str:
    """An arXiv-style category (`cs.LG`, `hep-th`), or `InvalidInput`."""
    if not _CATEGORY.match(category or ""):
        raise InvalidInput(f"invalid category {category[:60]!r}", field="category")
    return category
