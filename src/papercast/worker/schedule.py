"""Periodic tasks: the declaration (name, schedule, what it runs, where) and the scheduler.

A `cluster` task is work on the shared database that must happen once per period however many
workers run: each worker enqueues its job under the period's unique key (`name@start`), so the
first insert wins and the others change nothing, and skips a period while the previous job is
still open, so the work never runs twice at once. A `local` duty is work on this process's own
state (its index directory): every worker process runs it, each period.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from papercast.domain.jobs import Schedule, period_key
from papercast.ports import JobStore

log = logging.getLogger("papercast.worker")

# A local duty's round: how much it did (0: nothing was waiting).
LocalDuty = Callable[[], int]


class Scope(StrEnum):
    CLUSTER = "cluster"  # once per period across all workers, as a job
    LOCAL = "local"  # in every worker process


@dataclass(frozen=True)
class PeriodicTask:
    """One row of the schedule. A cluster task runs the job kind `kind` (by default its name) with
    `payload`, `delay` after its period begins; `wanted`, when given, is asked first, and a period
    it answers no to enqueues nothing (nothing is waiting) unless a wake-up asks again. A local
    task runs `duty`, in each period and again at once while it finds work."""

    name: str
    schedule: Schedule
    scope: Scope
    duty: LocalDuty | None = None
    wanted: Callable[[], bool] | None = None
    payload: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""
    kind: str = ""
    delay: timedelta = timedelta(0)

    def __post_init__(self) -> None:
        if (self.scope is Scope.LOCAL) != (self.duty is not None):
            raise ValueError(f"periodic task {self.name}: a local task has a duty, a cluster task none")

    @property
    def job_kind(self) -> str:
        return self.kind or self.name


class PeriodTracker:
    """Remembers the last period each task was handled in (per process, in memory)."""

    def __init__(self) -> None:
        self._handled: dict[str, datetime] = {}

    def new_period(self, task: PeriodicTask, now: datetime) -> datetime | None:
        """The start of `now`'s period when `task` was not handled in it yet, else None."""
        start = task.schedule.period_start(now)
        if start is None or self._handled.get(task.name) == start:
            return None
        return start

    def handled(self, task: PeriodicTask, start: datetime) -> None:
        self._handled[task.name] = start


class Scheduler:
    """Enqueues the cluster tasks' jobs, each once per period."""

    def __init__(self, tasks: Sequence[PeriodicTask], jobs: JobStore) -> None:
        self.tasks = [task for task in tasks if task.scope is Scope.CLUSTER]
        self._jobs = jobs
        self._tracker = PeriodTracker()
        # Tasks whose `wanted` said no in the current period: a wake-up (this process queued work:
        # a job, a mail) asks them again, so that work need not wait for the next period.
        self._declined: dict[str, datetime] = {}

    def enqueue_due(self, now: datetime, *, ask_again: bool = False) -> int:
        """Enqueue the job of every cluster task whose period began since this worker last looked
        (and, `ask_again`, of those that wanted nothing earlier in this period); returns how many
        this worker added (another worker may have added the rest)."""
        added = 0
        for task in self.tasks:
            start = self._tracker.new_period(task, now)
            if start is None and ask_again:
                start = self._declined.get(task.name)
                if start is not None and start != task.schedule.period_start(now):
                    start = None  # declined in a period that has passed: its new one comes first
            if start is None:
                continue
            added += self._enqueue(task, start)
            self._tracker.handled(task, start)
        return added

    def _enqueue(self, task: PeriodicTask, start: datetime) -> int:
        if task.wanted is not None and not task.wanted():
            self._declined[task.name] = start
            return 0
        self._declined.pop(task.name, None)
        key = period_key(task.name, start)
        if self._jobs.enqueue_periodic(task.job_kind, task.payload, key, run_at=start + task.delay) is None:
            return 0
        log.info("worker.schedule task=%s key=%s", task.name, key)
        return 1
