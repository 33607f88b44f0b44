"""Trending listings: papers ranked by their stored score (`trending`) or by points among those
first announced today, this week or this month; each paper with its standing. Also scores the
catalog again when the weights or tau in the settings differ from those the scores were made with.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from papercast.clock import Clock
from papercast.domain.errors import InvalidInput
from papercast.domain.papers import Paper
from papercast.domain.trending import Standing, TrendingParameters, Window
from papercast.services.listings import check_window

log = logging.getLogger("papercast.trending")
RESCORE_BATCH = 2_000


class Ranked(Protocol):
    @property
    def paper_id(self) -> str: ...

    @property
    def standing(self) -> Standing: ...


class PopularityQueries(Protocol):
    def trending(self, offset: int, limit: int) -> tuple[Sequence[Ranked], int]: ...

    def window(self, start: datetime, offset: int, limit: int) -> tuple[Sequence[Ranked], int]: ...

    def standings(self, paper_ids: Sequence[str]) -> dict[str, Standing]: ...

    def papers(self, paper_ids: Sequence[str]) -> dict[str, Paper]: ...

    def vote_version(self) -> int: ...

    def stored_parameters(self) -> dict[str, float] | None: ...


class ScoreWrites(Protocol):
    def rescore(self, after: str, limit: int) -> tuple[str, int] | None: ...

    def store_parameters(self, now: datetime) -> None: ...


class ScoreTransaction(Protocol):
    @property
    def now(self) -> datetime: ...

    @property
    def votes(self) -> ScoreVotes: ...


class ScoreVotes(Protocol):
    @property
    def popularity(self) -> ScoreWrites: ...


class ScoreUnits(Protocol):
    def begin(self) -> AbstractContextManager[ScoreTransaction]: ...


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
    def __init__(self, queries: PopularityQueries, units: ScoreUnits, clock: Clock,
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
                    transaction.votes.popularity.store_parameters(transaction.now)
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
