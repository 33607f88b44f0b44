"""arXiv's announcement calendar: Sunday to Thursday at 20:00 US Eastern, daylight saving time
included, none on Friday, Saturday or a holiday; latest/following at and around every boundary."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from papercast.domain.announcements import (
    EASTERN,
    AnnouncementCalendar,
    announcement_day,
    parse_holidays,
)
from papercast.domain.errors import InvalidInput

CALENDAR = AnnouncementCalendar()
SECOND = timedelta(seconds=1)
THANKSGIVING = date(2026, 11, 26)  # a Thursday
HOLIDAYS = AnnouncementCalendar(frozenset({THANKSGIVING, date(2026, 12, 25)}))


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def test_every_day_of_two_years_is_an_announcement_exactly_sunday_to_thursday() -> None:
    day, seen = date(2026, 1, 1), 0
    while day < date(2028, 1, 1):
        instant = CALENDAR.announcement_on(day)
        if day.weekday() in (4, 5):  # Friday, Saturday
            assert instant is None, day
        else:
            assert instant is not None, day
            local = instant.astimezone(EASTERN)
            assert (local.date(), local.hour, local.minute, local.second) == (day, 20, 0, 0)
            assert instant.tzinfo is UTC
            seen += 1
        day += timedelta(days=1)
    # 104 whole weeks from Thursday 2026-01-01, five each, then Thursday and Friday 2027-12-30 and 31.
    assert seen == 104 * 5 + 1


@pytest.mark.parametrize(("day", "expected"), [
    # 2026-03-08 (Sunday): clocks go forward at 02:00; the evening is daylight time, UTC-4.
    (date(2026, 3, 5), utc(2026, 3, 6, 1)),  # Thursday before: standard time, UTC-5
    (date(2026, 3, 8), utc(2026, 3, 9, 0)),  # the day of the change itself
    (date(2026, 3, 9), utc(2026, 3, 10, 0)),
    # 2026-11-01 (Sunday): clocks go back at 02:00; the evening is standard time again.
    (date(2026, 10, 29), utc(2026, 10, 30, 0)),  # Thursday before: daylight time
    (date(2026, 11, 1), utc(2026, 11, 2, 1)),  # the day of the change itself
    (date(2026, 11, 2), utc(2026, 11, 3, 1)),
    (date(2027, 3, 14), utc(2027, 3, 15, 0)),  # the next spring's change
])
def test_announcements_keep_20_00_eastern_across_daylight_saving_changes(day: date,
                                                                          expected: datetime) -> None:
    assert CALENDAR.announcement_on(day) == expected


def test_latest_and_following_around_a_thursday_announcement() -> None:
    thursday = utc(2026, 12, 4, 1)  # Thursday 2026-12-03 20:00 EST
    wednesday = utc(2026, 12, 3, 1)
    sunday = utc(2026, 12, 7, 1)
    assert CALENDAR.latest(thursday - SECOND) == wednesday
    assert CALENDAR.latest(thursday) == thursday  # at the instant itself
    assert CALENDAR.following(thursday - SECOND) == thursday
    assert CALENDAR.following(thursday) == sunday  # strictly after
    for hours in (1, 24, 47, 71):  # Friday, Saturday and Sunday before 20:00: still Thursday's
        assert CALENDAR.latest(thursday + timedelta(hours=hours)) == thursday
    assert CALENDAR.latest(sunday) == sunday


def test_a_holiday_has_no_announcement_and_the_one_before_it_stays_the_latest() -> None:
    assert HOLIDAYS.announcement_on(THANKSGIVING) is None
    assert HOLIDAYS.announces_on(THANKSGIVING - timedelta(days=1))
    wednesday = utc(2026, 11, 26, 1)
    thanksgiving_evening = utc(2026, 11, 27, 1)
    assert HOLIDAYS.latest(thanksgiving_evening + timedelta(hours=2)) == wednesday
    assert HOLIDAYS.following(wednesday) == utc(2026, 11, 30, 1)  # the Sunday after
    assert CALENDAR.latest(thanksgiving_evening) == thanksgiving_evening  # without the holiday list


def test_the_calendar_is_a_schedule_whose_periods_are_the_announcements() -> None:
    now = utc(2026, 12, 5, 12)  # Saturday
    assert HOLIDAYS.period_start(now) == HOLIDAYS.latest(now) == utc(2026, 12, 4, 1)
    assert HOLIDAYS.next_start(now) == HOLIDAYS.following(now) == utc(2026, 12, 7, 1)
    assert "Sun-Thu 20:00 America/New_York" in HOLIDAYS.describe() and "2 holidays" in HOLIDAYS.describe()


def test_a_calendar_of_nothing_but_holidays_answers_none() -> None:
    days = frozenset(date(2026, 1, 1) + timedelta(days=n) for n in range(-800, 800))
    closed = AnnouncementCalendar(days)
    assert closed.latest(utc(2026, 1, 1)) is None and closed.following(utc(2026, 1, 1)) is None


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)))
def test_latest_and_following_bracket_any_instant_with_nothing_between(now: datetime) -> None:
    latest, following = CALENDAR.latest(now), CALENDAR.following(now)
    assert latest is not None and following is not None
    assert latest <= now < following
    assert CALENDAR.announcement_on(announcement_day(latest)) == latest
    assert CALENDAR.announcement_on(announcement_day(following)) == following
    day = announcement_day(latest) + timedelta(days=1)
    while day < announcement_day(following):  # every day strictly between has no announcement
        assert CALENDAR.announcement_on(day) is None
        day += timedelta(days=1)
    assert (following - latest) <= timedelta(days=3, hours=1)  # Thursday to Sunday, at most


def test_announcement_day_is_the_eastern_date() -> None:
    assert announcement_day(utc(2026, 12, 4, 1)) == date(2026, 12, 3)  # 20:00 EST the day before in UTC


def test_holidays_are_read_from_iso_dates() -> None:
    assert parse_holidays("") == frozenset()
    assert parse_holidays(" 2026-11-26 ,2026-12-25,") == {THANKSGIVING, date(2026, 12, 25)}
    with pytest.raises(InvalidInput, match=r"PAPERCAST_HARVEST_HOLIDAYS: '2026-13-01' is not a date"):
        parse_holidays("2026-11-26,2026-13-01")
