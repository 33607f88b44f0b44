"""Reading the catalog: one paper by any spelling of its id, and what the catalog holds."""

from __future__ import annotations

from dataclasses import dataclass

from papercast.domain.errors import NotFound
from papercast.domain.papers import Paper, parse_paper_id
from papercast.ports import PaperLookup


@dataclass(frozen=True)
class CatalogStats:
    papers: int


class CatalogService:
    def __init__(self, papers: PaperLookup) -> None:
        self._papers = papers

    def paper(self, raw_id: str) -> Paper:
        """The paper for `raw_id` (`arXiv:1810.04805v2`, a URL, `hep-th/9901001`, `seed-001`)."""
        paper_id = parse_paper_id(raw_id).paper_id
        paper = self._papers.get(paper_id)
        if paper is None:
            raise NotFound(f"no paper {paper_id!r} in the catalog")
        return paper

    def stats(self) -> CatalogStats:
        return CatalogStats(papers=self._papers.count())
