"""Search as the web sees it: any backend with `search` and `similar`, its hits joined to papers.

The backend is the search service (`SearchService.search(query_text, sort, offset, limit)` giving
`results`, `total_estimate`, `mode`, `warnings`, `took_ms`, `degraded`, `similarity_floor`,
`below_floor`; `similar(paper_id, limit)`). When the search indexes cannot be opened,
`CatalogSearch` stands in: every word must occur in the title or abstract, newest first, and
"similar" means the newest papers of the same primary category.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from papercast.domain.papers import Paper
from papercast.domain.query import TextSegment
from papercast.ports import SearchBackend
from papercast.services.listings import ListingService, check_window

SORTS = ("relevance", "date")
SNIPPET_CHARS = 320
MAX_CACHED_CATEGORIES = 2_000


@dataclass(frozen=True)
class Hit:
    paper: Paper
    score: float | None = None
    snippet: tuple[TextSegment, ...] = ()


@dataclass(frozen=True)
class SearchResults:
    query: str
    sort: str
    hits: tuple[Hit, ...]
    total: int
    offset: int
    limit: int
    mode: str
    warnings: tuple[str, ...] = ()
    took_ms: float = 0.0
    degraded: bool = False  # keyword-only after the encoder failed: not to be kept by any cache
    similarity_floor: float | None = None
    below_floor: int = 0

    @property
    def has_next(self) -> bool:
        return self.offset + self.limit < self.total


@dataclass(frozen=True)
class Similar:
    hits: tuple[Hit, ...]
    mode: str


@dataclass
class _Response:
    """The shape `CatalogSearch` answers with: the search service's, attribute for attribute."""

    results: list[Any]
    total_estimate: int
    mode: str
    warnings: list[str] = field(default_factory=list)
    took_ms: float = 0.0


@dataclass(frozen=True)
class _CatalogHit:
    paper_id: str
    score: float | None
    title: str
    snippet: tuple[TextSegment, ...]
    paper: Paper


class CatalogSearch:
    """Search of last resort over the catalog, for when the search service is unavailable.

    "Similar" is the same list for every paper of a category (its newest papers), so it is kept
    for `related_ttl` seconds per category instead of being read again for each paper page.
    """

    mode = "catalog"

    def __init__(self, listings: ListingService, related_ttl: float = 10.0,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._listings = listings
        self._related_ttl = related_ttl
        self._monotonic = monotonic
        self._related: dict[tuple[str, int], tuple[float, list[Paper]]] = {}

    def search(self, query_text: str, sort: str, offset: int, limit: int) -> _Response:
        started = time.perf_counter()
        page = self._listings.text_search(query_text, offset, limit)
        words = re.findall(r"[^\W_]+", query_text.lower())
        hits = [_CatalogHit(p.paper_id, None, p.title, snippet_of(p.abstract, words), p) for p in page.papers]
        warnings = [] if sort == "date" else ["no search index yet: showing the newest matching papers"]
        return _Response(hits, page.total, self.mode, warnings, (time.perf_counter() - started) * 1000)

    def similar(self, paper_id: str, limit: int) -> _Response:
        found = self._listings.papers([paper_id])
        return self.similar_to(found[0], limit) if found else _Response([], 0, "category")

    def similar_to(self, paper: Paper, limit: int, snippets: bool = True) -> _Response:
        """`similar` for a paper already loaded (the paper page has it); never any snippets."""
        related = [p for p in self._newest_in(paper, limit + 1) if p.paper_id != paper.paper_id][:limit]
        hits = [_CatalogHit(p.paper_id, None, p.title, (), p) for p in related]
        return _Response(hits, len(hits), "category")

    def _newest_in(self, paper: Paper, count: int) -> list[Paper]:
        key = (paper.primary_category, count)
        moment = self._monotonic()
        cached = self._related.get(key)
        if cached is None or moment - cached[0] > self._related_ttl:
            if len(self._related) > MAX_CACHED_CATEGORIES:
                self._related.clear()
            # Read for a paper of the category that is none of its newest: the list fits every paper.
            placeholder = replace(paper, paper_id="")
            cached = (moment, self._listings.related(placeholder, count))
            self._related[key] = cached
        return cached[1]


class WebSearch:
    """Runs the backend and loads the papers its hits name, in the order of the hits."""

    def __init__(self, backend: SearchBackend, listings: ListingService) -> None:
        self.backend = backend
        self._listings = listings

    def search(self, query_text: str, sort: str = "relevance", offset: int = 0,
               limit: int = 20) -> SearchResults:
        check_window(offset, limit)
        response = self.backend.search(query_text, sort, offset, limit)
        hits = self._hits(getattr(response, "results", ()))
        floor = getattr(response, "similarity_floor", None)
        return SearchResults(
            query=query_text, sort=sort, hits=hits, offset=offset, limit=limit,
            total=int(getattr(response, "total_estimate", len(hits)) or 0),
            mode=str(getattr(response, "mode", "")), warnings=tuple(getattr(response, "warnings", ()) or ()),
            took_ms=float(getattr(response, "took_ms", 0.0) or 0.0),
            degraded=bool(getattr(response, "degraded", False)),
            similarity_floor=float(floor) if floor is not None else None,
            below_floor=int(getattr(response, "below_floor", 0) or 0),
        )

    def index_version(self) -> tuple[int, ...]:
        """The sequences of the indexes the backend searches now (empty when it has none), so
        that a cached answer is never older than the index it was computed from."""
        version = getattr(self.backend, "index_version", None)
        return tuple(version()) if callable(version) else ()

    def similar(self, paper: Paper, limit: int = 6, snippets: bool = True) -> Similar:
        """Papers similar to `paper`; a page that shows no abstracts asks for no `snippets`."""
        paper_id = paper.paper_id
        similar_to = getattr(self.backend, "similar_to", None)
        response = (similar_to(paper, limit, snippets) if similar_to
                    else self.backend.similar(paper_id, limit))
        results = getattr(response, "results", response)
        hits = tuple(h for h in self._hits(results) if h.paper.paper_id != paper_id)
        return Similar(hits, str(getattr(response, "mode", "similar")))

    def _hits(self, results: Iterable[Any]) -> tuple[Hit, ...]:
        results = list(results or ())
        missing = [r.paper_id for r in results if not isinstance(getattr(r, "paper", None), Paper)]
        loaded = {p.paper_id: p for p in self._listings.papers(missing)} if missing else {}
        hits = []
        for result in results:
            paper = getattr(result, "paper", None)
            paper = paper if isinstance(paper, Paper) else loaded.get(result.paper_id)
            if paper is None:  # the index knows a paper the catalog no longer has
                continue
            score = getattr(result, "score", None)
            hits.append(Hit(paper, float(score) if score is not None else None,
                            _segments(getattr(result, "snippet", None))))
        return tuple(hits)


def _segments(snippet: Any) -> tuple[TextSegment, ...]:
    if not snippet:
        return ()
    if isinstance(snippet, str):
        return (TextSegment(snippet),)
    return tuple(s if isinstance(s, TextSegment) else TextSegment(str(s)) for s in snippet)


def snippet_of(text: str, words: Sequence[str], max_chars: int = SNIPPET_CHARS) -> tuple[TextSegment, ...]:
    """The start of `text` (about `max_chars`), with the query's words marked."""
    if not text:
        return ()
    cut = text if len(text) <= max_chars else text[:max_chars].rsplit(" ", 1)[0] + "\u2026"
    wanted = [re.escape(w) for w in words if w]
    if not wanted:
        return (TextSegment(cut),)
    segments: list[TextSegment] = []
    cursor = 0
    for match in re.finditer("|".join(wanted), cut, re.IGNORECASE):
        if match.start() > cursor:
            segments.append(TextSegment(cut[cursor:match.start()]))
        segments.append(TextSegment(match.group(0), True))
        cursor = match.end()
    if cursor < len(cut):
        segments.append(TextSegment(cut[cursor:]))
    return tuple(segments)
