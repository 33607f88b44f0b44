"""arXiv's announcement calendar: new papers are announced Sunday to Thursday at 20:00 US Eastern
(America/New_York, daylight saving time included), never on Friday or Saturday, and not on the
holidays an operator lists. Each announcement is a period of the scheduled harvests."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from papercast.domain.errors import InvalidInput

EASTERN = ZoneInfo("America/New_York")
ANNOUNCEMENT_TIME = time(20, 0)
# date.weekday(): Monday is 0. Announcements: Sunday, Monday, Tuesday, Wednesday, Thursday.
ANNOUNCEMENT_WEEKDAYS = frozenset({6, 0, 1, 2, 3})
# How far the calendar looks for an announcement before giving up: a year of holidays is absurd.
SEARCH_DAYS = 400
HOLIDAYS_SETTING = "PAPERCAST_HARVEST_HOLIDAYS"


@dataclass(frozen=True)
class AnnouncementCalendar:
    """When arXiv announces. Doubles as a periodic task's `Schedule`: a period runs from one
    announcement to the next, so a task keyed by its period runs once per announcement."""

    holidays: frozenset[date] = frozenset()

    def announces_on(self, day: date) -> bool:
        """Whether there is an announcement on `day` (a date in US Eastern time)."""
        return day.weekday() in ANNOUNCEMENT_WEEKDAYS and day not in self.holidays

    def announcement_on(self, day: date) -> datetime | None:
        """The instant (UTC) of the announcement on `day`, None when there is none."""
        if not self.announces_on(day):
            return None
        # 20:00 is never in a daylight-saving gap or fold (those are at 02:00), so it is one instant.
        return datetime.combine(day, ANNOUNCEMENT_TIME, tzinfo=EASTERN).astimezone(UTC)

    def latest(self, now: datetime) -> datetime | None:
        """The last announcement at or before `now`; None when none was found in `SEARCH_DAYS`."""
        today = now.astimezone(EASTERN).date()
        for back in range(SEARCH_DAYS):
            instant = self.announcement_on(today - timedelta(days=back))
            if instant is not None and instant <= now:
                return instant
        return None

    def following(self, now: datetime) -> datetime | None:
        """The first announcement after `now`; None when none is found in `SEARCH_DAYS`."""
        today = now.astimezone(EASTERN).date()
        for ahead in range(SEARCH_DAYS):
            instant = self.announcement_on(today + timedelta(days=ahead))
            if instant is not None and instant > now:
                return instant
        return None

    # -- the Schedule protocol (domain.jobs) -----------------------------------------------------

    def period_start(self, now: datetime) -> datetime | None:
        return self.latest(now)

    def next_start(self, now: datetime) -> datetime | None:
        return self.following(now)

    def describe(self) -> str:
        holidays = f", except {len(self.holidays)} holidays" if self.holidays else ""
        return f"after each arXiv announcement (Sun-Thu 20:00 America/New_York{holidays})"


def announcement_day(instant: datetime) -> date:
    """The US Eastern date an announcement (or any instant) falls on."""
    return instant.astimezone(EASTERN).date()


def parse_holidays(text: str) -> frozenset[date]:
    """`PAPERCAST_HARVEST_HOLIDAYS`: comma-separated ISO dates (`2026-11-26,2026-12-25`), or empty."""
    return frozenset(_holiday(item.strip()) for item in _items(text))


def _holiday(item: str) -> date:
    try:
        return date.fromisoformat(item)
    except ValueError:
        raise InvalidInput(f"{HOLIDAYS_SETTING}: {item!r} is not a date like 2026-12-25",
                           field=HOLIDAYS_SETTING) from None


def _items(text: str) -> Iterable[str]:
    return (item for item in text.split(",") if item.strip())
