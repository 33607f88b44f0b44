"""An in-memory paper store for search tests: what `SearchService` reads of `SqlPaperRepository`."""

from __future__ import annotations

from collections.abc import Sequence

from papercast.domain.papers import Paper


class InMemoryPapers:
    def __init__(self, papers: Sequence[Paper]) -> None:
        self.by_id = {paper.paper_id: paper for paper in papers}

    def get_many(self, paper_ids: Sequence[str], *, history: bool = True) -> dict[str, Paper]:
        return {paper_id: self.by_id[paper_id] for paper_id in paper_ids if paper_id in self.by_id}
