"""When a digest is due: once per existing local date (or ISO week) at the subscriber's send hour,
across daylight-saving changes in Pacific/Auckland and America/Los_Angeles, however irregularly
the planner runs; an hour skipped by the change is read with the offset before it."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from papercast.domain.digests import DeliveryState as D
from papercast.domain.digests import announced_dates, due_period, local_instant, period_at, refused_in_a_row
from papercast.domain.subscriptions import Frequency, Preferences

# Each zone's changes in 2026: Auckland leaves summer time on 5 April and enters it on 27
# September; Los Angeles enters it on 8 March and leaves it on 1 November.
CHANGES = [("Pacific/Auckland", date(2026, 4, 5)), ("Pacific/Auckland", date(2026, 9, 27)),
           ("America/Los_Angeles", date(2026, 3, 8)), ("America/Los_Angeles", date(2026, 11, 1))]


def planned_periods(preferences: Preferences, start: datetime, steps: list[int]) -> dict[str, datetime]:
    """What a planner running at `start` + each step (minutes, cumulative) plans: period -> when."""
    planned: dict[str, datetime] = {}
    at = start
    for step in steps:
        at += timedelta(minutes=step)
        period = due_period(preferences, at)
        if period is not None and period.key not in planned:
            planned[period.key] = at
    return planned


def local_dates(zone: str, start: datetime, end: datetime) -> set[str]:
    """The local dates whose send hour falls in [start, end] for some hour: every date seen."""
    tz = ZoneInfo(zone)
    first, last = start.astimezone(tz).date(), end.astimezone(tz).date()
    return {(first + timedelta(days=n)).isoformat() for n in range((last - first).days + 1)}


@pytest.mark.parametrize(("zone", "change"), CHANGES)
@pytest.mark.parametrize("hour", range(24))
def test_one_digest_per_local_date_across_a_change(zone: str, change: date, hour: int) -> None:
    preferences = Preferences((), Frequency.DAILY, hour, zone)
    start = datetime.combine(change - timedelta(days=3), datetime.min.time(), tzinfo=UTC)
    planned = planned_periods(preferences, start, [5] * (7 * 24 * 12))
    end = start + timedelta(days=7)
    tz = ZoneInfo(zone)
    # Every local date whose send instant lies inside the window has exactly one digest (a dict
    # key cannot repeat), planned within five minutes of its send instant.
    expected = {day for day in local_dates(zone, start, end)
                if start < local_instant(date.fromisoformat(day), hour, tz) <= end - timedelta(minutes=5)}
    assert expected <= set(planned)
    for key, when in planned.items():
        send_at = local_instant(date.fromisoformat(key), hour, tz)
        if send_at > start:  # (a date whose hour had passed when planning began is caught up at once)
            assert timedelta(0) <= when - send_at < timedelta(minutes=5)
        assert when >= send_at and when.astimezone(tz).date().isoformat() == key


def test_a_skipped_hour_is_read_with_the_offset_before_the_change() -> None:
    los_angeles = ZoneInfo("America/Los_Angeles")
    # 02:30 on 8 March 2026 does not exist there: clocks go from 02:00 PST to 03:00 PDT.
    assert local_instant(date(2026, 3, 8), 2, los_angeles) == datetime(2026, 3, 8, 10, 0, tzinfo=UTC)
    # 01:00 on 1 November happens twice: the first one (PDT) counts.
    assert local_instant(date(2026, 11, 1), 1, los_angeles) == datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


@settings(max_examples=60, deadline=None)
@given(zone_change=st.sampled_from(CHANGES), hour=st.integers(0, 23),
       steps=st.lists(st.integers(1, 180), min_size=50, max_size=120))
def test_an_irregular_planner_never_plans_a_date_twice_or_a_day_early(
        zone_change: tuple[str, date], hour: int, steps: list[int]) -> None:
    zone, change = zone_change
    preferences = Preferences((), Frequency.DAILY, hour, zone)
    start = datetime.combine(change - timedelta(days=2), datetime.min.time(), tzinfo=UTC)
    planned = planned_periods(preferences, start, steps)
    tz = ZoneInfo(zone)
    for key, when in planned.items():
        assert when >= local_instant(date.fromisoformat(key), hour, tz)
        assert when.astimezone(tz).date().isoformat() == key  # never late into the next day


def test_a_weekly_digest_is_due_from_monday_at_the_send_hour_for_the_iso_week() -> None:
    preferences = Preferences((), Frequency.WEEKLY, 7, "Europe/Berlin")
    sunday_evening = datetime(2026, 12, 6, 20, 0, tzinfo=UTC)
    assert due_period(preferences, sunday_evening) is not None  # week 49 began on Monday
    assert due_period(preferences, sunday_evening).key == "2026-W49"  # type: ignore[union-attr]
    monday_early = datetime(2026, 12, 7, 5, 59, tzinfo=UTC)  # 06:59 in Berlin
    assert due_period(preferences, monday_early) is None
    period = period_at(preferences, datetime(2026, 12, 7, 6, 0, tzinfo=UTC))
    assert (period.key, period.ends_at) == ("2026-W50", datetime(2026, 12, 13, 23, 0, tzinfo=UTC))


def test_a_daily_digest_covers_one_announcement_whatever_the_zone() -> None:
    auckland = Preferences((), Frequency.DAILY, 8, "Pacific/Auckland")
    send_at = period_at(auckland, datetime(2026, 12, 3, 19, 30, tzinfo=UTC)).send_at  # 08:00 on the 4th
    assert announced_dates(auckland, send_at) == (date(2026, 12, 3), date(2026, 12, 3))
    weekly = Preferences((), Frequency.WEEKLY, 8, "UTC")
    monday = datetime(2026, 12, 7, 8, tzinfo=UTC)
    assert announced_dates(weekly, monday) == (date(2026, 12, 1), date(2026, 12, 7))


def test_only_5xx_refusals_in_a_row_count_and_a_delivery_resets() -> None:
    assert refused_in_a_row([(D.FAILED, 550), (D.EXPIRED, 451), (D.FAILED, 554), (D.SENT, None)]) == 2
    assert refused_in_a_row([(D.SENT, None), (D.FAILED, 550)]) == 0
    assert refused_in_a_row([(D.FAILED, 451), (D.CANCELLED, None)]) == 0
