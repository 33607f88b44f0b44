"""Trending listings: papers ranked by their stored score (`trending`) or by points among those
first announced today, this week or this month; each paper with its standing. Also scores the
catalog again when the weights or tau in the settings differ from those the scores were made with.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from papercast.clock import Clock
from papercast.domain.errors import InvalidInput
from papercast.domain.papers import Paper
from papercast.domain.trending import Standing, TrendingParameters, Window
from papercast.ports import PopularityQueries, UnitOfWork
from papercast.services.listings import check_window

log = logging.getLogger("papercast.trending")
RESCORE_BATCH = 2_000


@dataclass(frozen=True)
class TrendingEntry:
    paper: Paper
    standing: Standing


@dataclass(frozen=True)
class TrendingPage:
    window: Window
    entries: tuple[TrendingEntry, ...]
    total: int
    offset: int
    limit: int
    since: datetime | None  # the window's first instant (None for `trending`)

    @property
    def has_next(self) -> bool:
        return self.offset + self.limit < self.total


class TrendingService:
    def __init__(self, queries: PopularityQueries, units: UnitOfWork, clock: Clock,
                 parameters: TrendingParameters) -> None:
        self._queries = queries
        self._units = units
        self._clock = clock
        self.parameters = parameters

    def listing(self, window: Window | str = Window.TRENDING, offset: int = 0,
                limit: int = 20) -> TrendingPage:
        """One page of `window`: by score for `trending`, by points for the others."""
        window = parse_window(window)
        check_window(offset, limit)
        since = window.start(self._clock.now())
        if since is None:
            ranked, total = self._queries.trending(offset, limit)
        else:
            ranked, total = self._queries.window(since, offset, limit)
        loaded = self._queries.papers([row.paper_id for row in ranked])
        entries = tuple(TrendingEntry(loaded[row.paper_id], row.standing) for row in ranked
                        if row.paper_id in loaded)
        return TrendingPage(window, entries, total, offset, limit, since)

    def standings(self, paper_ids: Sequence[str]) -> dict[str, Standing]:
        """The points of each listed paper (pages show them beside every paper)."""
        return self._queries.standings(paper_ids) if paper_ids else {}

    def vote_version(self) -> int:
        """A number that moves on with every counted vote or save (for caches of pages with points)."""
        return self._queries.vote_version()

    def scores_are_current(self) -> bool:
        """Whether the stored scores were computed with the parameters in force."""
        return self._queries.stored_parameters() == self.parameters.describe()

    def rescore(self, batch: int = RESCORE_BATCH, should_stop: Callable[[], bool] = lambda: False) -> int:
        """Score every paper again with the parameters in force, `batch` papers a transaction (so
        votes and ingest are never held up long), then record the parameters. How many papers.
        Stopped early (`should_stop`), the parameters are not recorded: the next run starts over."""
        after, done = "", 0
        while not should_stop():
            with self._units.begin() as transaction:
                step = transaction.votes.popularity.rescore(after, batch)
                if step is None:
                    transaction.votes.popularity.store_parameters(self._clock.now())
                    break
            after, done = step[0], done + step[1]
        log.info("trending.rescored papers=%d parameters=%s", done, self.parameters.describe())
        return done


def parse_window(value: Window | str) -> Window:
    try:
        return Window(value)
    except ValueError as error:
        choices = ", ".join(window.value for window in Window)
        raise InvalidInput(f"window must be one of {choices}, not {str(value)[:40]!r}",
                           field="window") from error
