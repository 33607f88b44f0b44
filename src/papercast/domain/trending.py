"""Trending as rules: a paper's points from its upvotes, saves and external upvotes, the
epoch-anchored score that ranks them with recency, and the windows a listing can ask for.

The score never needs recomputing as time passes: recency enters as the distance of the paper's
first announcement from a fixed epoch, so the order of two papers is the same today and in a
year, and the score can be stored, indexed and updated only when a paper's points change.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum

# Recency is measured from here. Any fixed instant would do (only differences between scores
# matter); a recent one keeps the stored numbers small enough to read.
EPOCH = datetime(2020, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Popularity:
    """What a paper's points are made of: counted local upvotes and saves, external upvotes."""

    upvotes: int = 0
    saves: int = 0
    external_upvotes: int = 0


@dataclass(frozen=True)
class TrendingParameters:
    """The weights and the time constant of the score (from the settings).

    points = upvote_weight * upvotes + save_weight * saves + external_weight * external upvotes
    score  = log10(1 + points) + (first announced - EPOCH) / tau

    `tau_seconds` is how much newer a paper must be to match ten times the points (`1 +` lets
    the first upvote count; Reddit's `max(points, 1)` would leave one point equal to none).
    """

    upvote_weight: float = 1.0
    save_weight: float = 1.0
    external_weight: float = 0.5
    tau_seconds: float = 172_800.0  # two days

    def points(self, popularity: Popularity) -> float:
        return (self.upvote_weight * popularity.upvotes + self.save_weight * popularity.saves
                + self.external_weight * popularity.external_upvotes)

    def score(self, points: float, announced_at: datetime) -> float:
        """The epoch-anchored score of `points` for a paper first announced at `announced_at`."""
        return math.log10(1.0 + max(points, 0.0)) + (announced_at - EPOCH).total_seconds() / self.tau_seconds

    def standing(self, popularity: Popularity, announced_at: datetime) -> tuple[float, float]:
        """(points, score) of a paper."""
        points = self.points(popularity)
        return points, self.score(points, announced_at)

    def describe(self) -> dict[str, float]:
        """The parameters as stored beside the scores they made (and shown on the about page)."""
        return {"upvote_weight": self.upvote_weight, "save_weight": self.save_weight,
                "external_weight": self.external_weight, "tau_seconds": self.tau_seconds}


def announced_at(announced_on: date | None, first_stored_at: datetime) -> datetime:
    """When a paper was first announced, as an instant: the start (UTC) of its v1 announcement
    day, or, for a paper without one, when the catalog first stored it (never the time of asking,
    which would make an undated paper look new forever)."""
    if announced_on is None:
        return first_stored_at.astimezone(UTC)
    return datetime.combine(announced_on, time(0), tzinfo=UTC)


class Window(StrEnum):
    """What a trending listing covers. `trending` ranks everything with points by score; the
    others rank the papers first announced in a period (UTC days, today included) by points."""

    TRENDING = "trending"
    TODAY = "today"
    WEEK = "week"
    MONTH = "month"

    @property
    def days(self) -> int | None:
        return _WINDOW_DAYS.get(self)

    def start(self, now: datetime) -> datetime | None:
        """The first instant of the window at `now`, or None for `trending` (no window)."""
        days = self.days
        if days is None:
            return None
        today = now.astimezone(UTC).date()
        return datetime.combine(today - timedelta(days=days - 1), time(0), tzinfo=UTC)


_WINDOW_DAYS = {Window.TODAY: 1, Window.WEEK: 7, Window.MONTH: 30}


class Mark(StrEnum):
    """What a reader can do to a paper: upvote it, or save it to their library."""

    UPVOTE = "upvote"
    SAVE = "save"


@dataclass(frozen=True)
class Standing:
    """A paper's popularity as listings show it, and what the reader asking did to it."""

    popularity: Popularity
    points: float
    score: float | None = None
    upvoted: bool = False
    saved: bool = False

    @property
    def shown_points(self) -> str:
        """Points for display: to a tenth, since weights may be fractions (0.5 is not 0)."""
        text = f"{self.points:.1f}"
        return text.removesuffix(".0")
