"""The job rules: every (state, event) pair, retries with backoff and jitter, periodic keys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from papercast.domain.backoff import backoff_seconds
from papercast.domain.errors import Conflict, InvalidInput
from papercast.domain.jobs import (
    MAX_ERROR_LENGTH,
    OPEN_STATES,
    Every,
    IllegalTransition,
    Job,
    JobEvent,
    JobState,
    RetryPolicy,
    clip_error,
    next_state,
    period_key,
    states_allowing,
    validate_kind,
    validate_unique_key,
)

DUE, RUNNING, DONE, FAILED, DEAD = (JobState.DUE, JobState.RUNNING, JobState.DONE, JobState.FAILED,
                                    JobState.DEAD)
NOW = datetime(2026, 12, 3, 16, 20, 7, tzinfo=UTC)

# Every pair that is allowed, and where it leads; all others must raise.
ALLOWED = {
    (DUE, JobEvent.CLAIM): RUNNING,
    (FAILED, JobEvent.CLAIM): RUNNING,
    (RUNNING, JobEvent.CLAIM): RUNNING,
    (RUNNING, JobEvent.COMPLETE): DONE,
    (RUNNING, JobEvent.FAIL): FAILED,
    (RUNNING, JobEvent.GIVE_UP): DEAD,
    (RUNNING, JobEvent.RELEASE): DUE,
    (RUNNING, JobEvent.CONTINUE): DUE,
    (FAILED, JobEvent.RETRY): DUE,
    (DEAD, JobEvent.RETRY): DUE,
    (DUE, JobEvent.CANCEL): DEAD,
    (FAILED, JobEvent.CANCEL): DEAD,
    (RUNNING, JobEvent.CANCEL): DEAD,
}
PAIRS = [(state, event) for state in JobState for event in JobEvent]


@pytest.mark.parametrize(("state", "event"), PAIRS, ids=[f"{s}-{e}" for s, e in PAIRS])
def test_every_state_and_event(state: JobState, event: JobEvent) -> None:
    if (state, event) in ALLOWED:
        assert next_state(state, event) is ALLOWED[(state, event)]
        assert state in states_allowing(event)
        return
    with pytest.raises(IllegalTransition, match=f"a {state} job cannot be "):
        next_state(state, event)
    assert state not in states_allowing(event)


def test_an_illegal_transition_is_a_conflict_for_the_edges() -> None:
    with pytest.raises(Conflict):
        next_state(DONE, JobEvent.RETRY)


def test_finished_jobs_are_not_open_and_nothing_leaves_done() -> None:
    assert {DUE, RUNNING, FAILED} == OPEN_STATES
    assert not any(state is DONE for state, _ in ALLOWED)


@pytest.mark.parametrize(("failures", "jitter", "expected"), [
    (1, 0.0, 15.0), (1, 1.0, 30.0), (2, 1.0, 60.0), (3, 0.5, 90.0), (10, 1.0, 3600.0), (10, 0.0, 1800.0),
    (10_000, 1.0, 3600.0),
])
def test_backoff_doubles_up_to_the_cap_and_jitter_spreads_it_over_its_upper_half(
        failures: int, jitter: float, expected: float) -> None:
    assert backoff_seconds(failures, 30.0, 3600.0, jitter) == pytest.approx(expected)


@pytest.mark.parametrize(("failures", "jitter"), [(0, 0.5), (1, -0.1), (1, 1.5)])
def test_backoff_refuses_nonsense(failures: int, jitter: float) -> None:
    with pytest.raises(ValueError):
        backoff_seconds(failures, 1.0, 10.0, jitter)


def test_a_failure_with_attempts_left_is_retried_after_the_backoff() -> None:
    policy = RetryPolicy(max_attempts=3, backoff_initial=timedelta(seconds=10),
                         backoff_max=timedelta(minutes=5))
    assert policy.after_failure(1, NOW, 1.0) == (JobEvent.FAIL, NOW + timedelta(seconds=10))
    assert policy.after_failure(2, NOW, 0.0) == (JobEvent.FAIL, NOW + timedelta(seconds=10))
    assert policy.after_failure(3, NOW, 0.5) == (JobEvent.GIVE_UP, None)
    assert policy.after_failure(4, NOW, 0.5) == (JobEvent.GIVE_UP, None)


def test_a_claim_past_the_last_attempt_is_one_too_many() -> None:
    policy = RetryPolicy(max_attempts=2)
    assert [policy.out_of_attempts(n) for n in (1, 2, 3)] == [False, False, True]
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)


def test_a_lease_expires_only_for_a_running_job_past_its_expiry() -> None:
    job = Job(id=1, kind="k", payload={}, state=RUNNING, run_at=NOW, lease_expires_at=NOW)
    assert job.lease_expired(NOW) and not job.lease_expired(NOW - timedelta(microseconds=1))
    assert not Job(id=1, kind="k", payload={}, state=DUE, run_at=NOW, lease_expires_at=NOW).lease_expired(NOW)
    assert job.as_dict()["state"] == "running" and job.as_dict()["lease_expires_at"] == NOW.isoformat()


def test_periods_are_cut_from_the_epoch_so_every_process_agrees() -> None:
    every = Every(timedelta(seconds=10))
    assert every.period_start(NOW) == datetime(2026, 12, 3, 16, 20, 0, tzinfo=UTC)
    assert every.period_start(datetime(2026, 12, 3, 16, 20, 9, 999999, tzinfo=UTC)) == every.period_start(NOW)
    assert every.period_start(datetime(2026, 12, 3, 16, 20, 10, tzinfo=UTC)) == every.next_start(NOW)
    eastern = NOW.astimezone(ZoneInfo("America/New_York"))
    assert every.period_start(eastern) == every.period_start(NOW)
    assert Every(timedelta(days=1)).period_start(NOW) == datetime(2026, 12, 3, tzinfo=UTC)
    with pytest.raises(ValueError):
        Every(timedelta(0))


def test_a_period_key_names_the_task_and_the_period_start() -> None:
    start = Every(timedelta(seconds=10)).period_start(NOW)
    assert period_key("embed-backlog", start) == "embed-backlog@2026-12-03T16:20:00Z"
    quarter = Every(timedelta(milliseconds=250)).period_start(NOW.replace(microsecond=300_000))
    assert period_key("t", quarter) == "t@2026-12-03T16:20:07.250000Z"


@pytest.mark.parametrize("kind", ["Embed", "", "a b", "x" * 101, "-start", "ünï"])
def test_bad_job_kinds_are_refused_by_name(kind: str) -> None:
    with pytest.raises(InvalidInput, match="job kind"):
        validate_kind(kind)


def test_good_kinds_and_unique_keys_pass() -> None:
    assert validate_kind("embed-backlog") == "embed-backlog"
    assert validate_kind("test.record_2") == "test.record_2"
    assert validate_unique_key(None) is None and validate_unique_key("k@1") == "k@1"
    with pytest.raises(InvalidInput, match="unique key"):
        validate_unique_key("")
    with pytest.raises(InvalidInput, match="unique key"):
        validate_unique_key("k" * 201)


def test_a_long_error_keeps_its_end_where_a_traceback_says_what_failed() -> None:
    text = "Traceback\n" + "x" * MAX_ERROR_LENGTH + "\nValueError: the reason"
    clipped = clip_error(text)
    assert len(clipped) == MAX_ERROR_LENGTH and clipped.endswith("ValueError: the reason")
    assert clip_error("short") == "short"
