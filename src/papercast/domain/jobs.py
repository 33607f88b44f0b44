"""Background jobs as rows: their states and what moves them, retries with backoff, periodic keys.

Storage and the worker ask these rules what a state may become; nothing here does I/O or reads
the time (callers pass `now` and a random number for jitter).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from papercast.domain.backoff import backoff_seconds
from papercast.domain.errors import Conflict, InvalidInput, PapercastError

# What a job's row keeps of its last error (a message and the last lines of a traceback).
MAX_ERROR_LENGTH = 4000
MAX_KIND_LENGTH = 100
MAX_UNIQUE_KEY_LENGTH = 200
_KIND = re.compile(r"[a-z0-9][a-z0-9._-]*")


class JobState(StrEnum):
    DUE = "due"  # waits for its run-at time and a worker
    RUNNING = "running"  # a worker holds its lease
    DONE = "done"
    FAILED = "failed"  # an attempt failed; due again at its run-at time (the backoff)
    DEAD = "dead"  # out of attempts, failed permanently or cancelled; kept with its error


class JobEvent(StrEnum):
    CLAIM = "claim"  # a worker takes a job: due, failed and past its retry time, or its lease expired
    COMPLETE = "complete"
    FAIL = "fail"  # an attempt failed and attempts are left: retried after a backoff
    GIVE_UP = "give-up"  # an attempt failed and none are left (or it cannot succeed)
    RELEASE = "release"  # its worker stops before the job ends: due again at once, attempt not counted
    CONTINUE = "continue"  # it did a slice of its work and runs again for the rest; attempts start over
    RETRY = "retry"  # an operator makes a failed or dead job due now, with fresh attempts
    CANCEL = "cancel"  # an operator ends a job that has not finished; kept as dead


OPEN_STATES = frozenset({JobState.DUE, JobState.RUNNING, JobState.FAILED})

_TRANSITIONS: dict[tuple[JobState, JobEvent], JobState] = {
    (JobState.DUE, JobEvent.CLAIM): JobState.RUNNING,
    (JobState.FAILED, JobEvent.CLAIM): JobState.RUNNING,
    (JobState.RUNNING, JobEvent.CLAIM): JobState.RUNNING,  # only once its lease has expired
    (JobState.RUNNING, JobEvent.COMPLETE): JobState.DONE,
    (JobState.RUNNING, JobEvent.FAIL): JobState.FAILED,
    (JobState.RUNNING, JobEvent.GIVE_UP): JobState.DEAD,
    (JobState.RUNNING, JobEvent.RELEASE): JobState.DUE,
    (JobState.RUNNING, JobEvent.CONTINUE): JobState.DUE,
    (JobState.FAILED, JobEvent.RETRY): JobState.DUE,
    (JobState.DEAD, JobEvent.RETRY): JobState.DUE,
    (JobState.DUE, JobEvent.CANCEL): JobState.DEAD,
    (JobState.FAILED, JobEvent.CANCEL): JobState.DEAD,
    (JobState.RUNNING, JobEvent.CANCEL): JobState.DEAD,
}


# How a message says what an event does to a job ("a done job cannot be retried").
_DONE_TO = {
    JobEvent.CLAIM: "claimed", JobEvent.COMPLETE: "completed", JobEvent.FAIL: "failed",
    JobEvent.GIVE_UP: "given up", JobEvent.RELEASE: "released", JobEvent.CONTINUE: "continued",
    JobEvent.RETRY: "retried", JobEvent.CANCEL: "cancelled",
}


class IllegalTransition(Conflict):
    """A job asked to move in a way its state does not allow (retry a done job, cancel a dead one)."""


def next_state(state: JobState, event: JobEvent) -> JobState:
    """The state `event` moves a job in `state` to; `IllegalTransition` when it may not."""
    try:
        return _TRANSITIONS[(state, event)]
    except KeyError:
        raise IllegalTransition(f"a {state} job cannot be {_DONE_TO[event]}") from None


def states_allowing(event: JobEvent) -> frozenset[JobState]:
    """The states a job may be in for `event` to apply (what a conditional UPDATE checks)."""
    return frozenset(state for state, happening in _TRANSITIONS if happening is event)


def validate_kind(kind: str) -> str:
    if len(kind) > MAX_KIND_LENGTH or not _KIND.fullmatch(kind):
        raise InvalidInput(f"job kind {kind!r} must be lower-case letters, digits, '.', '_' or '-' "
                           f"(at most {MAX_KIND_LENGTH})", field="kind")
    return kind


def validate_unique_key(unique_key: str | None) -> str | None:
    if unique_key is not None and not 0 < len(unique_key) <= MAX_UNIQUE_KEY_LENGTH:
        raise InvalidInput(f"a job's unique key must have 1 to {MAX_UNIQUE_KEY_LENGTH} characters",
                           field="unique_key")
    return unique_key


def clip_error(text: str) -> str:
    """An error kept on a row: its end, where a traceback names what failed, when it is long."""
    return text if len(text) <= MAX_ERROR_LENGTH else "…" + text[-(MAX_ERROR_LENGTH - 1):]


@dataclass(frozen=True)
class RetryPolicy:
    """How often a job kind is attempted, and how long it waits between attempts."""

    max_attempts: int = 5
    backoff_initial: timedelta = timedelta(seconds=30)
    backoff_max: timedelta = timedelta(hours=1)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, not {self.max_attempts}")

    def after_failure(self, attempts: int, now: datetime, jitter: float) -> tuple[JobEvent, datetime | None]:
        """After attempt number `attempts` failed: FAIL and when to run again, or GIVE_UP."""
        if attempts >= self.max_attempts:
            return JobEvent.GIVE_UP, None
        delay = backoff_seconds(max(attempts, 1), self.backoff_initial.total_seconds(),
                                self.backoff_max.total_seconds(), jitter)
        return JobEvent.FAIL, now + timedelta(seconds=delay)

    def out_of_attempts(self, attempts: int) -> bool:
        """Whether a claim that made this attempt number `attempts` is one too many: the holders
        of the attempts before it all stopped mid-job (killed, crashed) and never reported."""
        return attempts > self.max_attempts


@dataclass(frozen=True)
class Job:
    """One stored job."""

    id: int
    kind: str
    payload: dict[str, Any]
    state: JobState
    run_at: datetime
    attempts: int = 0
    unique_key: str | None = None
    lease_owner: str | None = None
    lease_expires_at: datetime | None = None
    last_error: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    def lease_expired(self, now: datetime) -> bool:
        return (self.state is JobState.RUNNING and self.lease_expires_at is not None
                and self.lease_expires_at <= now)

    def as_dict(self) -> dict[str, Any]:
        def moment(value: datetime | None) -> str | None:
            return value.isoformat() if value is not None else None

        return {"id": self.id, "kind": self.kind, "unique_key": self.unique_key, "payload": self.payload,
                "state": str(self.state), "run_at": moment(self.run_at), "attempts": self.attempts,
                "lease_owner": self.lease_owner, "lease_expires_at": moment(self.lease_expires_at),
                "last_error": self.last_error, "created_at": moment(self.created_at),
                "updated_at": moment(self.updated_at)}


class Schedule(Protocol):
    """When a periodic task runs: the start of the period `now` falls in, or None when it does
    not run in this period (a schedule of weekdays, say). Equal starts mean the same period."""

    def period_start(self, now: datetime) -> datetime | None: ...

    def next_start(self, now: datetime) -> datetime | None:
        """When the period after `now`'s begins (None: never again)."""
        ...

    def describe(self) -> str: ...


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Every:
    """Periods of a fixed length, counted from the Unix epoch in UTC, so that every process on
    every machine (with a synchronised clock) cuts time into the same periods."""

    interval: timedelta

    def __post_init__(self) -> None:
        if self.interval <= timedelta(0):
            raise ValueError(f"a periodic task's interval must be positive, not {self.interval}")

    def period_start(self, now: datetime) -> datetime:
        # Whole microseconds, so no float rounding moves a start across a period boundary.
        elapsed = now.astimezone(UTC) - _EPOCH
        return _EPOCH + elapsed // self.interval * self.interval

    def next_start(self, now: datetime) -> datetime:
        return self.period_start(now) + self.interval

    def describe(self) -> str:
        return f"every {self.interval}"


def period_key(task_name: str, period_start: datetime) -> str:
    """The unique key of a periodic task's job for the period starting at `period_start`
    (`embed-backlog@2026-12-03T16:20:00Z`; fractions of a second only when a period has them)."""
    moment = period_start.astimezone(UTC).replace(tzinfo=None).isoformat()
    return f"{task_name}@{moment}Z"


class JobOutcome(StrEnum):
    """What a job's handler answers when it returns (raising is failing)."""

    DONE = "done"
    CONTINUE = "continue"  # did a slice of the work; run again for the rest (see JobEvent.CONTINUE)


class JobCannotSucceed(PapercastError):
    """Raised by a handler for a job no retry can help (a payload naming nothing that exists):
    the job is kept as dead at once, with this message."""


class JobBusy(PapercastError):
    """Raised by a handler whose work another running job is doing now (it holds the lock): the
    job is due again after `retry_after`, the attempt not counted."""

    def __init__(self, message: str, retry_after: timedelta) -> None:
        super().__init__(message)
        self.retry_after = retry_after
