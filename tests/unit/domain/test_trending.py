"""The trending score's rules: golden values, and properties over any counts and times
(hypothesis): newer never ranks below older at equal points, a vote never lowers a score, tau
newer is worth ten times the points, and the windows' first days."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from papercast.domain.trending import EPOCH, Popularity, Standing, TrendingParameters, Window, announced_at

DEFAULT = TrendingParameters()

instants = st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2999, 12, 31),
                        timezones=st.just(UTC))
counts = st.integers(min_value=0, max_value=2**31 - 1)
popularities = st.builds(Popularity, counts, counts, counts)
weights = st.floats(min_value=0, max_value=1000, allow_nan=False)
parameters = st.builds(TrendingParameters, weights, weights, weights,
                       st.floats(min_value=3600, max_value=100_000 * 3600, allow_nan=False))


def rank_key(score: float, when: datetime, paper_id: str) -> tuple[float, datetime, str]:
    """The order of a trending listing, highest first (storage sorts by the same three)."""
    return score, when, paper_id


def test_golden_values() -> None:
    # log10(1 + 9) = 1; one tau after the epoch is worth as much as nine points at it.
    assert DEFAULT.score(9.0, EPOCH) == 1.0
    assert DEFAULT.score(0.0, EPOCH + timedelta(seconds=DEFAULT.tau_seconds)) == 1.0
    assert DEFAULT.score(0.0, EPOCH) == 0.0
    assert DEFAULT.points(Popularity(upvotes=3, saves=2, external_upvotes=10)) == 3 + 2 + 5
    # Reddit's form with its epoch and tau: hot(10 votes) = 1.0 at the epoch (reliability.md R1).
    reddit = TrendingParameters(tau_seconds=45_000)
    assert reddit.score(9.0, EPOCH) == pytest.approx(1.0)


@given(parameters, st.floats(min_value=0, max_value=1e12, allow_nan=False), instants, instants)
def test_at_equal_points_a_newer_paper_never_ranks_below_an_older_one(
        trending: TrendingParameters, points: float, first: datetime, second: datetime) -> None:
    newer, older = max(first, second), min(first, second)
    assert trending.score(points, newer) >= trending.score(points, older)
    # Equal scores (the same day, or floats too close to differ) fall back to the newer first.
    newer_key = rank_key(trending.score(points, newer), newer, "a")
    older_key = rank_key(trending.score(points, older), older, "b")
    assert newer_key >= older_key or newer == older


@given(parameters, popularities, instants, st.sampled_from(["upvotes", "saves", "external_upvotes"]))
def test_a_vote_never_lowers_a_score(trending: TrendingParameters, popularity: Popularity, when: datetime,
                                     field: str) -> None:
    more = Popularity(**{**popularity.__dict__, field: getattr(popularity, field) + 1})
    before_points, before = trending.standing(popularity, when)
    after_points, after = trending.standing(more, when)
    assert after_points >= before_points and after >= before


@given(st.integers(min_value=0, max_value=10**6), instants)
def test_tau_newer_is_worth_ten_times_the_points(points: int, when: datetime) -> None:
    ten_times = DEFAULT.score(10 * (points + 1) - 1, when)
    later = DEFAULT.score(points, when + timedelta(seconds=DEFAULT.tau_seconds))
    assert later == pytest.approx(ten_times, rel=1e-12, abs=1e-9)


def test_the_first_upvote_counts() -> None:
    assert DEFAULT.score(1.0, EPOCH) > DEFAULT.score(0.0, EPOCH)


def test_an_undated_paper_is_as_new_as_its_first_storing_not_as_the_request() -> None:
    stored = datetime(2026, 3, 4, 5, 6, tzinfo=UTC)
    assert announced_at(None, stored) == stored
    assert announced_at(date(2026, 3, 1), stored) == datetime(2026, 3, 1, tzinfo=UTC)


@pytest.mark.parametrize(("window", "start"), [
    (Window.TRENDING, None),
    (Window.TODAY, datetime(2026, 12, 3, tzinfo=UTC)),
    (Window.WEEK, datetime(2026, 11, 27, tzinfo=UTC)),
    (Window.MONTH, datetime(2026, 11, 4, tzinfo=UTC)),
])
def test_windows_start_at_the_first_utc_day_they_cover(window: Window, start: datetime | None) -> None:
    assert window.start(datetime(2026, 12, 3, 23, 59, tzinfo=UTC)) == start


@pytest.mark.parametrize(("points", "shown"), [(0.0, "0"), (0.5, "0.5"), (20.0, "20"), (1.25, "1.2"),
                                               (1234567.0, "1234567")])
def test_points_are_shown_to_a_tenth(points: float, shown: str) -> None:
    assert Standing(Popularity(), points).shown_points == shown
