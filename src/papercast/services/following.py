"""Scheduled harvests of the followed sources: after an arXiv announcement, one harvest of a
source covers everything since its last one, however many announcements were missed.

An OAI-PMH set continues from its cursor (the `from` of the last finished list, or an
interrupted list's resumption token); Hugging Face daily papers are read for every day after the
last day harvested, through the announcement's day. A source with no cursor yet starts
`first_days` before the announcement.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from papercast.clock import Clock
from papercast.domain.announcements import AnnouncementCalendar, announcement_day
from papercast.domain.following import FollowedSource, SourceKind
from papercast.ports import CursorStore, HarvestSources, PagedSource
from papercast.services.harvest import HarvestReport, HarvestService

log = logging.getLogger("papercast.harvest")


@dataclass(frozen=True)
class FollowReport:
    """One scheduled harvest of a source: what it read, whether it finished, and the announcement
    it covers (a later one may have come while it ran: `behind`)."""

    source: str
    announcement: datetime | None
    harvest: HarvestReport | None  # None: nothing to read (a day already harvested)
    complete: bool
    behind: bool = False


class FollowService:
    """Harvests followed sources up to the latest announcement."""

    def __init__(self, harvest: HarvestService, cursors: CursorStore, calendar: AnnouncementCalendar,
                 clock: Clock, *, first_days: int) -> None:
        self._harvest = harvest
        self._cursors = cursors
        self.calendar = calendar
        self._clock = clock
        self._first_days = first_days

    def harvest(self, source: FollowedSource, remote: HarvestSources,
                should_stop: Callable[[], bool] | None = None) -> FollowReport:
        """Harvest `source` through the latest announcement, from where its last harvest ended."""
        announcement = self.calendar.latest(self._clock.now())
        day = announcement_day(announcement or self._clock.now())
        if source.kind is SourceKind.HF_DAILY:
            report = self._hf_daily(source, remote, day, should_stop)
        else:
            report = self._harvest.harvest(self._oai(source, remote, day), should_stop=should_stop)
        complete = report is None or report.complete
        behind = self.calendar.latest(self._clock.now()) != announcement
        log.info("harvest.scheduled source=%s announcement=%s complete=%s new=%d behind=%s", source.name,
                 announcement.isoformat() if announcement else None, complete,
                 report.ingest.new if report else 0, behind)
        return FollowReport(source.name, announcement, report, complete, behind)

    def _oai(self, source: FollowedSource, remote: HarvestSources, day: date) -> PagedSource:
        continuing = remote.oai(source.set_spec)
        if self._cursors.get_cursor(continuing.cursor_name()) is not None:
            return continuing
        return remote.oai(source.set_spec, (day - timedelta(days=self._first_days)).isoformat())

    def _hf_daily(self, source: FollowedSource, remote: HarvestSources, day: date,
                  should_stop: Callable[[], bool] | None) -> HarvestReport | None:
        mark = f"follow {source.name}"  # the last day read; a range's own cursor names the range
        stored = self._cursors.get_cursor(mark)
        first = (date.fromisoformat(stored["through"]) + timedelta(days=1) if stored
                 else day - timedelta(days=self._first_days))
        if first > day:
            return None
        report = self._harvest.harvest(remote.hf_daily(first, day), should_stop=should_stop)
        if report.complete:
            self._cursors.set_cursor(mark, {"through": day.isoformat()})
        return report
