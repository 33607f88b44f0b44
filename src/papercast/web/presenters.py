"""Domain objects as API JSON: the shared paper shape plus links, pages, search hits."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from papercast.domain.papers import Paper
from papercast.domain.trending import Standing
from papercast.presenters import paper_as_json, standing_json
from papercast.services.listings import PaperPage
from papercast.services.recommendations import Recommendation
from papercast.services.trending import TrendingPage
from papercast.services.votes import LibraryPage
from papercast.web.pagination import PageLinks
from papercast.web.search import Hit, SearchResults, Similar
from papercast.web.templating import arxiv_links, paper_url

API_PREFIX = "/api/v1"


def paper_resource(paper: Paper) -> dict[str, Any]:
    arxiv = arxiv_links(paper) or {}
    page = paper_url(paper.paper_id)
    return {**paper_as_json(paper), "links": {
        "self": API_PREFIX + page, "html": page, "abs": arxiv.get("abs"), "pdf": arxiv.get("pdf"),
    }}


def paper_list(page: PaperPage, links: PageLinks) -> dict[str, Any]:
    return {"papers": [paper_resource(p) for p in page.papers], "total": page.total,
            "offset": page.offset, "limit": page.limit, "links": links.as_json()}


def hit_resource(hit: Hit) -> dict[str, Any]:
    return {"paper": paper_resource(hit.paper), "score": hit.score,
            "snippet": [{"text": s.text, "match": s.match} for s in hit.snippet]}


def search_results(results: SearchResults, links: PageLinks) -> dict[str, Any]:
    return {
        "query": results.query, "sort": results.sort, "mode": results.mode,
        "degraded": results.degraded, "similarity_floor": results.similarity_floor,
        "below_floor": results.below_floor,
        "results": [hit_resource(h) for h in results.hits], "total_estimate": results.total,
        "offset": results.offset, "limit": results.limit, "warnings": list(results.warnings),
        "took_ms": round(results.took_ms, 3), "links": links.as_json(),
    }


def similar_papers(paper_id: str, similar: Similar) -> dict[str, Any]:
    return {"paper_id": paper_id, "mode": similar.mode, "results": [hit_resource(h) for h in similar.hits]}


def trending_results(page: TrendingPage, links: PageLinks) -> dict[str, Any]:
    return {
        "window": page.window.value, "since": page.since.isoformat() if page.since else None,
        "results": [{"paper": paper_resource(entry.paper), **standing_json(entry.standing),
                     "score": entry.standing.score} for entry in page.entries],
        "total": page.total, "offset": page.offset, "limit": page.limit, "links": links.as_json(),
    }


def mark_result(paper_id: str, standing: Standing) -> dict[str, Any]:
    """What a vote or save answers: the reader's marks on the paper and its points now."""
    return {"paper_id": paper_id, "upvoted": standing.upvoted, "saved": standing.saved,
            **standing_json(standing)}


def library_entries(library: LibraryPage) -> list[dict[str, Any]]:
    return [{"paper": paper_resource(entry.paper), "saved_at": entry.saved_at.isoformat()}
            for entry in library.entries]


def recommendation_resources(items: Sequence[Recommendation]) -> list[dict[str, Any]]:
    """Recommended papers with their score and reason (`reason` null for trending papers)."""
    return [{**paper_resource(item.paper), "score": round(item.score, 4), "reason": _reason(item)}
            for item in items]


def _reason(item: Recommendation) -> dict[str, Any] | None:
    reason = item.reason
    if reason is None:
        return None
    return {"text": reason.text, "paper_id": reason.paper_id, "title": reason.title,
            "signal": None if reason.kind is None else reason.kind.value,
            "similarity": round(reason.similarity, 4)}
