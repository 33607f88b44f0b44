"""Saved searches against the keyword index: which of a set of papers a digest topic matches,
and a topic's best or newest papers over the whole catalog (recommendations' followed topics)."""

from __future__ import annotations

from collections.abc import Sequence

from papercast.domain.query import parse_query
from papercast.index.follower import LiveKeywordIndex


class KeywordTopicMatcher:
    """A topic (a query of the search language) matched among given papers, every word required
    (`TantivyKeywordIndex.matching`): the `TopicMatcher` of the digest; and the `TopicPapers`
    of recommendations (`best`, `newest`: the index's search over every paper)."""

    def __init__(self, index: LiveKeywordIndex) -> None:
        self._index = index

    def matching(self, topic: str, paper_ids: Sequence[str], limit: int) -> list[str]:
        return self._index.matching(parse_query(topic), paper_ids, limit)

    def best(self, topic: str, limit: int) -> list[str]:
        return self._search(topic, limit, "relevance")

    def newest(self, topic: str, limit: int) -> list[str]:
        return self._search(topic, limit, "date")

    def _search(self, topic: str, limit: int, sort: str) -> list[str]:
        results = self._index.search(parse_query(topic), limit=limit, sort=sort)
        return [paper_id for paper_id, _ in results.hits]
