"""The digest's personal section from recommendations: a subscriber with an account gets the
papers its reader's model ranks best; a subscriber without one, or a reader without a fitted
model yet (whose list would be trending papers, already the digest's first section), gets none."""

from __future__ import annotations

from papercast.domain.digests import DigestPeriod
from papercast.domain.papers import Paper
from papercast.domain.subscriptions import Subscriber
from papercast.services.recommendations import RecommendationService

# The digest drops picks its other sections already list; asking for more keeps the section full.
OVERFETCH = 3


class RecommendedPicks:
    """`ports.PersonalPicks` over `RecommendationService` (what earlier digests showed is left out
    by the service: the digest records what it showed when it queues the mail)."""

    def __init__(self, recommendations: RecommendationService) -> None:
        self._recommendations = recommendations

    def picks(self, subscriber: Subscriber, period: DigestPeriod, limit: int) -> list[Paper]:
        if subscriber.user_id is None or limit <= 0:
            return []
        found = self._recommendations.recommend(subscriber.user_id, limit * OVERFETCH)
        if found.cold:
            return []
        return [item.paper for item in found.items]
