"""Search and "similar papers": hybrid keyword + semantic retrieval over loaded indexes.

The keyword index (BM25) and the vector index each give their top candidates; every candidate
gets its cosine similarity, the two scores are fused (`domain.fusion.convex_fusion`), the query
vector is moved towards the best fused papers (pseudo-relevance feedback) and the fusion runs
once more over the same candidates: the vector index is scanned once, for a pool twice the
fusion depth, and both vectors are scored against that pool only. Without an encoder or
vectors, or when the encoder is too slow, the search answers from keywords alone and says so
(`mode="keyword"`, `degraded=True`, a warning); without a keyword index (`IndexUnavailable`:
damaged, being rebuilt) it answers from meaning alone, and says so the same way.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np

from papercast.domain.errors import IndexUnavailable, InvalidInput, NotFound
from papercast.domain.fusion import FusionWeights, convex_fusion, pin_first, weights_for_encoder
from papercast.domain.papers import Paper, parse_paper_id
from papercast.domain.query import ParsedQuery, TextSegment, parse_query, relax_phrases
from papercast.embeddings.text import paper_text
from papercast.ports import Embedder, KeywordSearcher, PaperBatchReader, VectorSearcher

log = logging.getLogger("papercast.search")

SORTS = ("relevance", "date", "trending")
MODES = ("hybrid", "keyword", "vector")
MAX_LIMIT = 100
FILTERED_VECTOR_FACTOR = 5
FEEDBACK_POOL_FACTOR = 2
ENCODER_THREADS = 2
QUERY_VECTOR_CACHE = 256


@dataclass(frozen=True)
class SearchTuning:
    """Search knobs: the fusion (`None`: the weights measured for the encoder), how long the
    encoder may take, and result sizes."""

    fusion: FusionWeights | None = None
    embed_timeout: float = 2.0
    snippet_chars: int = 280
    max_window: int = 1000


@dataclass(frozen=True)
class SearchHit:
    """One result: the paper's display fields, its highlighted title and abstract snippet."""

    paper_id: str
    score: float
    title: str
    title_segments: tuple[TextSegment, ...]
    snippet: tuple[TextSegment, ...]
    authors: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    announced_on: date | None = None
    withdrawn: bool = False
    pinned: bool = False
    paper: Paper | None = field(default=None, repr=False, compare=False)  # set by `similar`

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.paper_id,
            "score": round(self.score, 6),
            "title": self.title,
            "title_highlight": _segments_json(self.title_segments),
            "snippet": _segments_json(self.snippet),
            "authors": list(self.authors),
            "categories": list(self.categories),
            "announced_on": self.announced_on.isoformat() if self.announced_on else None,
            "withdrawn": self.withdrawn,
            "pinned": self.pinned,
        }


@dataclass(frozen=True)
class SearchResponse:
    """A page of results and how they were found (`mode`), with anything the user should know."""

    query: str
    results: list[SearchHit]
    total_estimate: int
    mode: str
    sort: str = "relevance"
    offset: int = 0
    limit: int = 10
    warnings: tuple[str, ...] = ()
    degraded: bool = False
    took_ms: float = 0.0
    # The cosine a paper found by meaning alone had to reach (None when meaning was not searched)
    # and how many of the nearest papers fell short of it.
    similarity_floor: float | None = None
    below_floor: int = 0

    @property
    def ranking(self) -> list[str]:
        return [hit.paper_id for hit in self.results]

    def as_dict(self) -> dict[str, Any]:
        return {
            "query": self.query, "mode": self.mode, "degraded": self.degraded, "sort": self.sort,
            "offset": self.offset, "limit": self.limit, "total_estimate": self.total_estimate,
            "similarity_floor": self.similarity_floor, "below_floor": self.below_floor,
            "took_ms": round(self.took_ms, 1), "warnings": list(self.warnings),
            "results": [hit.as_dict() for hit in self.results],
        }


@dataclass
class _Ranking:
    """Candidates best first, how many papers matched, and how they were found."""

    ranked: list[tuple[str, float]]
    total: int
    mode: str
    warnings: list[str] = field(default_factory=list)
    degraded: bool = False
    pinned: frozenset[str] = frozenset()
    floor: float | None = None  # the similarity floor applied, when meaning was searched
    below_floor: int = 0  # nearest papers left out for being under it


class SearchService:
    """Searches the loaded indexes; hydrates hits from the paper store."""

    def __init__(self, keyword_index: KeywordSearcher, vector_index: VectorSearcher | None,
                 embedder: Embedder | None, papers: PaperBatchReader,
                 tuning: SearchTuning | None = None) -> None:
        self._keyword = keyword_index
        self._vectors = vector_index
        self._embedder = embedder
        self._papers = papers
        self.tuning = tuning or SearchTuning()
        measured = weights_for_encoder(embedder.model_id) if embedder is not None else FusionWeights()
        self.fusion = self.tuning.fusion or measured
        # Encoding runs in a small pool so that a stuck or slow encoder costs a timeout, not a hang.
        self._encoder_pool = ThreadPoolExecutor(ENCODER_THREADS, thread_name_prefix="search-encoder")
        # Paging and re-sorting repeat a query: its vector is remembered, not recomputed.
        self._recent_vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._recent_lock = threading.Lock()

    @property
    def semantic_available(self) -> bool:
        return self._embedder is not None and self._vectors is not None and len(self._vectors) > 0

    def index_version(self) -> tuple[int, int]:
        """Where the indexes searched now stand: the catalog change sequence the keyword index
        holds and the embedding sequence the vector index holds (0 where an index does not say).
        Caches of answers key on it, so that none outlives the index it was computed from."""
        keyword = int(getattr(self._keyword, "last_change_seq", 0))
        vectors = int(getattr(self._vectors, "sequence", 0)) if self._vectors is not None else 0
        return keyword, vectors

    # -- search --------------------------------------------------------------------------------

    def search(self, query_text: str, sort: str = "relevance", offset: int = 0, limit: int = 10,
               mode: str | None = None) -> SearchResponse:
        """One page of results for `query_text`; the query language is `domain.query`'s.

        The results of a query form one list that every page is a slice of, and its total is
        the same on every page: the first `candidates` depth is ranked for every request, and
        a page that reaches past it continues with a ranking `max_window` deep, leaving out
        what the first depth already listed."""
        started = time.perf_counter()
        if sort not in SORTS:
            raise InvalidInput(f"unknown sort {sort!r}; use one of {', '.join(SORTS)}", field="sort")
        if mode is not None and mode not in MODES:
            raise InvalidInput(f"unknown mode {mode!r}; use one of {', '.join(MODES)}", field="mode")
        parsed = parse_query(query_text)
        warnings = list(parsed.warnings)
        limit, offset = max(1, min(int(limit), MAX_LIMIT)), max(0, int(offset))
        if parsed.is_empty:
            warnings.append("the query is empty: type words to search for, or a filter such as cat:cs.LG")
            return self._response(parsed, [], 0, _Ranking([], 0, "none"), sort, offset, limit, warnings,
                                  started)
        if sort == "trending":
            warnings.append("trending order is not available yet; results are sorted by relevance")
        candidates = self.fusion.candidates
        ranking = self._rank(parsed, candidates, mode)
        if not ranking.ranked and parsed.phrases:
            parsed = relax_phrases(parsed)
            warnings.append("no paper contains the exact phrase; showing papers with its words")
            ranking = self._rank(parsed, candidates, mode)
        warnings.extend(ranking.warnings)
        if sort == "date" and parsed.has_text:
            if offset + limit > candidates:
                warnings.append(f"sorting by date covers the {candidates} most relevant results")
            ranked = self._by_date(ranking.ranked[:candidates])
            total = len(ranked)
        else:
            total = min(self.tuning.max_window, max(ranking.total, len(ranking.ranked)))
            ranked = self._continued(ranking, parsed, mode, offset + limit, total)
        if offset + limit > self.tuning.max_window:
            warnings.append(f"only the first {self.tuning.max_window} results can be paged through")
        if total == 0 and ranking.below_floor:
            warnings.append("no paper contains these words or is close to them in meaning")
        page = ranked[offset:min(offset + limit, total)]
        hits = self._hydrate(page, parsed, ranking.pinned)
        return self._response(parsed, hits, total, ranking, sort, offset, limit, warnings, started)

    def _continued(self, first: _Ranking, parsed: ParsedQuery, mode: str | None, end: int,
                   total: int) -> list[tuple[str, float]]:
        """The ranked list as far as `end`: the first ranking, continued (when the page reaches past
        it) by a `max_window` deep ranking without the papers the first one already listed."""
        head = first.ranked
        if end <= len(head) or total <= len(head):
            return head
        listed = {paper_id for paper_id, _ in head}
        deeper = self._rank(parsed, self.tuning.max_window, mode).ranked
        return head + [(paper_id, score) for paper_id, score in deeper if paper_id not in listed]

    def _rank(self, parsed: ParsedQuery, window: int, mode: str | None) -> _Ranking:
        try:
            return self._rank_with_keywords(parsed, window, mode)
        except IndexUnavailable as unavailable:
            return self._rank_without_keywords(parsed, window, str(unavailable))

    def _rank_without_keywords(self, parsed: ParsedQuery, window: int, unavailable: str) -> _Ranking:
        """Nearest papers by meaning alone; nothing for queries that need the keyword index."""
        ranking = _Ranking([], 0, "vector", degraded=True)
        if parsed.phrases or parsed.has_filters or parsed.has_exclusions or not parsed.has_text:
            ranking.warnings.append(f"{unavailable}; phrases, filters and exclusions need it: "
                                    "try again in a minute")
            return ranking
        query_vector, problem = self._query_vector(parsed.text)
        if query_vector is None:
            ranking.warnings.append(f"{unavailable}, and semantic search is unavailable ({problem})")
            return ranking
        assert self._vectors is not None
        floor = self.fusion.similarity_floor
        nearest = self._vectors.search(query_vector, window)
        ranking.ranked = [(paper_id, score) for paper_id, score in nearest if score >= floor]
        ranking.total, ranking.floor = len(ranking.ranked), floor
        ranking.below_floor = len(nearest) - len(ranking.ranked)
        ranking.warnings.append(f"{unavailable}; showing papers close in meaning only")
        return ranking

    def _rank_with_keywords(self, parsed: ParsedQuery, window: int, mode: str | None) -> _Ranking:
        if not parsed.has_text:
            page = self._keyword.search(parsed, limit=window, sort="date")
            return _Ranking(list(page.hits), page.total, "keyword")
        wanted = mode or "hybrid"
        if wanted == "keyword":
            return self._keyword_ranking(parsed, window)
        query_vector, problem = self._query_vector(parsed.text)
        if query_vector is None:
            ranking = self._keyword_ranking(parsed, window)
            ranking.warnings.append(f"semantic search is unavailable ({problem}); keyword matches only")
            ranking.degraded = True
            return ranking
        if wanted == "vector":
            floor = self.fusion.similarity_floor
            nearest = self._vector_candidates(parsed, query_vector, window)
            close = [(paper_id, score) for paper_id, score in nearest if score >= floor]
            return _Ranking(close, len(close), "vector", floor=floor, below_floor=len(nearest) - len(close))
        return self._hybrid_ranking(parsed, query_vector, window)

    def _keyword_ranking(self, parsed: ParsedQuery, window: int) -> _Ranking:
        page = self._keyword.search(parsed, limit=window)
        pinned = self._keyword.pinned_ids(parsed)
        return _Ranking(pin_first(page.hits, pinned), page.total, "keyword", pinned=frozenset(pinned))

    def _hybrid_ranking(self, parsed: ParsedQuery, query_vector: np.ndarray, depth: int) -> _Ranking:
        fusion = self.fusion
        keyword = self._keyword.search(parsed, limit=depth)
        keyword_ids = {paper_id for paper_id, _ in keyword.hits}
        # One scan of the vector index gives a pool twice the fusion depth; the keyword hits join it,
        # and both the query vector and its feedback-moved version are scored over that pool only.
        # Papers that only meaning found must be close to the query itself, feedback or not.
        nearest = self._vector_candidates(parsed, query_vector, depth * FEEDBACK_POOL_FACTOR)
        pool = [paper_id for paper_id, score in nearest if score >= fusion.similarity_floor]
        below_floor = sum(1 for paper_id, score in nearest[:depth]
                          if score < fusion.similarity_floor and paper_id not in keyword_ids)
        assert self._vectors is not None
        # In a fixed order (the keyword hits', not the set's): ties in `_fuse` are broken by it.
        ids, matrix = self._vectors.vectors(list(dict.fromkeys(
            pool + [paper_id for paper_id, _ in keyword.hits])))
        in_pool = set(pool)
        fused = self._fuse(keyword.hits, ids, matrix @ query_vector, in_pool, depth)
        if fusion.feedback_papers > 0 and fusion.feedback_weight > 0 and fused:
            rows = {paper_id: row for row, paper_id in enumerate(ids)}
            best = [rows[paper_id] for paper_id, _ in fused[:fusion.feedback_papers] if paper_id in rows]
            if best:
                moved = query_vector + fusion.feedback_weight * matrix[best].mean(axis=0)
                norm = float(np.linalg.norm(moved))
                if norm > 0:
                    feedback = (moved / norm).astype(np.float32)
                    fused = self._fuse(keyword.hits, ids, matrix @ feedback, in_pool, depth)
        pinned = self._keyword.pinned_ids(parsed)
        return _Ranking(pin_first(fused, pinned), keyword.total, "hybrid", pinned=frozenset(pinned),
                        floor=fusion.similarity_floor, below_floor=below_floor)

    def _fuse(self, keyword_hits: list[tuple[str, float]], ids: Sequence[str], cosines: np.ndarray,
              pool: set[str], depth: int) -> list[tuple[str, float]]:
        """Convex fusion of BM25 and cosine over the keyword hits and the `depth` pool papers with
        the highest cosine (`ids` and `cosines`: the pool and the keyword hits that have vectors)."""
        order = np.argsort(-cosines, kind="stable")
        semantic: dict[str, float] = {}
        for row in order:
            if ids[row] in pool:
                semantic[ids[row]] = float(cosines[row])
                if len(semantic) == depth:
                    break
        keyword_ids = {paper_id for paper_id, _ in keyword_hits}
        for row, paper_id in enumerate(ids):  # every keyword hit gets its cosine
            if paper_id in keyword_ids and paper_id not in semantic:
                semantic[paper_id] = float(cosines[row])
        return convex_fusion(keyword_hits, semantic, self.fusion.keyword_weight,
                             keyword_complete=len(keyword_hits) < depth)

    def _vector_candidates(self, parsed: ParsedQuery, query_vector: np.ndarray,
                           depth: int) -> list[tuple[str, float]]:
        """Nearest papers that the query's phrases, filters and exclusions allow."""
        assert self._vectors is not None
        restricted = bool(parsed.phrases or parsed.has_filters or parsed.has_exclusions)
        hits = self._vectors.search(query_vector, depth * (FILTERED_VECTOR_FACTOR if restricted else 1))
        if restricted:
            allowed = self._keyword.filter_ids(parsed, [paper_id for paper_id, _ in hits])
            hits = [(paper_id, score) for paper_id, score in hits if paper_id in allowed]
        return hits[:depth]

    def _query_vector(self, text: str) -> tuple[np.ndarray | None, str]:
        """The query's vector, or None and why not (no encoder or vectors, an error, too slow)."""
        if self._embedder is None:
            return None, "no encoder is loaded"
        if self._vectors is None or len(self._vectors) == 0:
            return None, (self._vectors.problem if self._vectors is not None else None) or \
                "no paper vectors yet; run `papercast embed`"
        with self._recent_lock:
            if text in self._recent_vectors:
                self._recent_vectors.move_to_end(text)
                return self._recent_vectors[text], ""
        future = self._encoder_pool.submit(self._embedder.embed_query, text)
        try:
            vector = future.result(timeout=self.tuning.embed_timeout)
        except FutureTimeout:
            log.warning("search.encoder_timeout seconds=%s", self.tuning.embed_timeout)
            return None, f"the encoder took longer than {self.tuning.embed_timeout:g} s"
        except Exception as error:  # noqa: BLE001 - any encoder failure degrades to keyword search
            log.warning("search.encoder_failed error=%s", error)
            return None, "the encoder failed"
        query_vector = np.asarray(vector, dtype=np.float32).reshape(-1)
        with self._recent_lock:
            self._recent_vectors[text] = query_vector
            if len(self._recent_vectors) > QUERY_VECTOR_CACHE:
                self._recent_vectors.popitem(last=False)
        return query_vector, ""

    def _by_date(self, ranked: list[tuple[str, float]]) -> list[tuple[str, float]]:
        papers = self._papers.get_many([paper_id for paper_id, _ in ranked], history=False)
        oldest = date.min
        return sorted(((paper_id, score) for paper_id, score in ranked if paper_id in papers),
                      key=lambda item: (papers[item[0]].announced_on or oldest, item[1]), reverse=True)

    # -- similar papers ------------------------------------------------------------------------

    def similar(self, paper_id: str, limit: int = 10, snippets: bool = True) -> SearchResponse:
        """Papers nearest to `paper_id` by meaning (by its title's words without vectors)."""
        canonical = parse_paper_id(paper_id).paper_id
        paper = self._papers.get_many([canonical], history=False).get(canonical)
        if paper is None:
            raise NotFound(f"no paper {canonical}")
        return self.similar_to(paper, limit, snippets)

    def similar_to(self, paper: Paper, limit: int = 10, snippets: bool = True) -> SearchResponse:
        """`similar` for a paper already loaded: its precomputed neighbours when the index has
        them, else a search with its vector, else with its title's words. Hits carry their
        papers; without `snippets` (a list of titles) no abstract is highlighted and the papers
        come without versions and signals."""
        started = time.perf_counter()
        canonical = paper.paper_id
        limit = max(1, min(int(limit), MAX_LIMIT))
        parsed = parse_query(paper.title)
        ranked = None
        if self._vectors is not None and len(self._vectors) > 0:
            ranked = self._vectors.neighbours(canonical, limit)
        if ranked is None:
            vector = self._paper_vector(paper)
            if vector is not None:
                assert self._vectors is not None
                ranked = self._vectors.search(vector, limit, exclude_ids=[canonical])
        if ranked is not None:
            hits = self._hydrate(ranked, parsed, snippets=snippets, history=snippets, attach=True)
            return self._response(parsed, hits, len(ranked), _Ranking(ranked, len(ranked), "vector"),
                                  "relevance", 0, limit, [], started)
        warnings = ["semantic search is unavailable; papers sharing the title's words are shown"]
        try:
            hits_by_words = self._keyword.search(parsed, limit=limit + 1).hits
        except IndexUnavailable as unavailable:
            hits_by_words, warnings = [], [f"semantic search is unavailable and {unavailable}"]
        ranked = [(pid, score) for pid, score in hits_by_words if pid != canonical][:limit]
        hits = self._hydrate(ranked, parsed, snippets=snippets, history=snippets, attach=True)
        fallback = _Ranking(ranked, len(ranked), "keyword", degraded=True)
        return self._response(parsed, hits, len(ranked), fallback, "relevance", 0, limit, warnings, started)

    def _paper_vector(self, paper: Paper) -> np.ndarray | None:
        if self._vectors is None or len(self._vectors) == 0:
            return None
        stored = self._vectors.vector(paper.paper_id)
        if stored is not None:
            return np.asarray(stored, dtype=np.float32)
        if self._embedder is None:
            return None
        try:
            return np.asarray(self._embedder.embed_query(paper_text(paper.title, paper.abstract)),
                              dtype=np.float32).reshape(-1)
        except Exception as error:  # noqa: BLE001 - fall back to keywords
            log.warning("search.similar_encoder_failed error=%s", error)
            return None

    # -- results -------------------------------------------------------------------------------

    def _hydrate(self, page: Sequence[tuple[str, float]], parsed: ParsedQuery,
                 pinned: frozenset[str] = frozenset(), *, snippets: bool = True, history: bool = False,
                 attach: bool = False) -> list[SearchHit]:
        """Hits for (paper id, score) pairs, skipping papers deleted since the index saw them.

        Without `snippets` (a list of titles) nothing is highlighted; `history` loads versions and
        signals, `attach` puts each paper on its hit (so the web layer need not load it again)."""
        papers = self._papers.get_many([paper_id for paper_id, _ in page], history=history)
        hits = []
        for paper_id, score in page:
            paper = papers.get(paper_id)
            if paper is None:
                continue
            if snippets:
                title = self._keyword.highlight(paper.title, parsed)
                snippet = self._keyword.highlight(paper.abstract, parsed, self.tuning.snippet_chars)
            else:
                title, snippet = (TextSegment(paper.title),), ()
            hits.append(SearchHit(
                paper_id=paper_id, score=score, title=paper.title, title_segments=title, snippet=snippet,
                authors=tuple(author.name for author in paper.authors), categories=paper.categories,
                announced_on=paper.announced_on, withdrawn=paper.withdrawn, pinned=paper_id in pinned,
                paper=paper if attach else None,
            ))
        return hits

    def _response(self, parsed: ParsedQuery, hits: list[SearchHit], total: int, ranking: _Ranking,
                  sort: str, offset: int, limit: int, warnings: list[str], started: float) -> SearchResponse:
        return SearchResponse(
            query=parsed.raw, results=hits, total_estimate=total, mode=ranking.mode, sort=sort,
            offset=offset, limit=limit, warnings=tuple(dict.fromkeys(warnings)), degraded=ranking.degraded,
            similarity_floor=ranking.floor, below_floor=ranking.below_floor,
            took_ms=(time.perf_counter() - started) * 1000.0,
        )

    def close(self) -> None:
        self._encoder_pool.shutdown(wait=False, cancel_futures=True)


def _segments_json(segments: tuple[TextSegment, ...]) -> list[dict[str, Any]]:
    return [{"text": segment.text, "match": segment.match} for segment in segments]
