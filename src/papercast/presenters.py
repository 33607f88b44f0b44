"""JSON shapes of domain objects, shared by the CLI (`--json`) and the web API."""

from __future__ import annotations

from typing import Any

from papercast.domain.papers import Paper
from papercast.domain.trending import Standing


def paper_as_json(paper: Paper) -> dict[str, Any]:
    """The JSON shape of a paper, shared by the CLI and the API."""
    return {
        "id": paper.paper_id,
        "title": paper.title,
        "authors": [a.as_dict() for a in paper.authors],
        "abstract": paper.abstract,
        "categories": list(paper.categories),
        "primary_category": paper.primary_category,
        "versions": [
            {"version": v.number, "submitted_at": v.submitted_at.isoformat() if v.submitted_at else None}
            for v in paper.versions
        ],
        "latest_version": paper.latest_version,
        "comments": paper.comments or None,
        "journal_ref": paper.journal_ref or None,
        "doi": paper.doi or None,
        "report_no": paper.report_no or None,
        "license": paper.license or None,
        "withdrawn": paper.withdrawn,
        "announced_on": paper.announced_on.isoformat() if paper.announced_on else None,
        "sources": list(paper.sources),
        "signals": [
            {"source": s.source, "upvotes": s.upvotes, "comments": s.comments,
             "github_stars": s.github_stars,
             "observed_on": s.observed_on.isoformat() if s.observed_on else None}
            for s in paper.signals
        ],
        "content_hash": paper.content_hash,
    }


def standing_json(standing: Standing) -> dict[str, Any]:
    """A paper's points and what they are made of."""
    popularity = standing.popularity
    return {"points": standing.points, "upvotes": popularity.upvotes, "saves": popularity.saves,
            "external_upvotes": popularity.external_upvotes}
