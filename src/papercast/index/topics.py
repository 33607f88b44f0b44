"""Saved searches against the keyword index: which of a set of papers a digest topic matches."""

from __future__ import annotations

from collections.abc import Sequence

from papercast.domain.query import parse_query
from papercast.index.follower import LiveKeywordIndex


class KeywordTopicMatcher:
    """A topic (a query of the search language) matched among given papers, every word required
    (`TantivyKeywordIndex.matching`); the `TopicMatcher` of the digest."""

    def __init__(self, index: LiveKeywordIndex) -> None:
        self._index = index

    def matching(self, topic: str, paper_ids: Sequence[str], limit: int) -> list[str]:
        return self._index.matching(parse_query(topic), paper_ids, limit)
