"""The worker loop: enqueue the periodic jobs that are due, claim a job, run it, and again; local
duties (index following) run beside it on a thread of their own. Nothing a round raises ends
the loop; `stop()` does (SIGTERM in `papercast worker`, the app's shutdown in `papercast serve`).

An idle worker costs one indexed read per poll: it asks when the next job becomes claimable and
sleeps until then, at most `interval` seconds (the wait doubles from a quarter second after
work). Work queued by this process (a job or a mail: `wakeup`) or a stop wakes it at once, and a
wake-up asks the cluster tasks that wanted nothing in this period again.
"""

from __future__ import annotations

import logging
import os
import random
import secrets
import socket
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from papercast.clock import Clock
from papercast.ports import JobStore
from papercast.worker.registry import TaskRegistry
from papercast.worker.runner import JobRunner
from papercast.worker.schedule import PeriodicTask, PeriodTracker, Scheduler, Scope

log = logging.getLogger("papercast.worker")

FIRST_IDLE_WAIT = 0.25  # seconds; doubles while idle, up to the interval


@dataclass(frozen=True)
class WorkerConfig:
    """`interval`: the longest idle wait between looks at the jobs table; `lease`: how long a
    claim holds a job without renewal (renewed every third of it); `grace`: how long a stop
    waits for the running job before releasing it."""

    interval: float = 2.0
    lease: timedelta = timedelta(seconds=60)
    grace: float = 8.0


@dataclass
class WorkerReport:
    """What a worker did: claimed jobs by outcome, and each local duty's work."""

    jobs: Counter[str] = field(default_factory=Counter)
    duties: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, dict[str, int]]:
        return {"jobs": dict(self.jobs), "duties": dict(self.duties)}


def default_owner() -> str:
    """This worker's name on the leases it holds: host, process and a random tag (a process may
    run more than one worker, and a pid is reused after a restart)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class Worker:
    """Claims and runs jobs of the registered kinds, enqueues the cluster tasks' periodic jobs and
    runs the local duties."""

    def __init__(self, jobs: JobStore, registry: TaskRegistry, tasks: Sequence[PeriodicTask], clock: Clock,
                 config: WorkerConfig | None = None, *, owner: str | None = None,
                 wakeup: threading.Event | None = None, rng: random.Random | None = None) -> None:
        self.config = config or WorkerConfig()
        self.owner = owner or default_owner()
        self._jobs = jobs
        self._kinds = registry.names()
        self._clock = clock
        self._scheduler = Scheduler(tasks, jobs)
        self._local = [task for task in tasks if task.scope is Scope.LOCAL]
        self._stopping = threading.Event()
        self._wakeup = wakeup or threading.Event()
        self._runner = JobRunner(jobs, registry, clock, self.owner, lease=self.config.lease,
                                 grace=self.config.grace, stopping=self._stopping, wakeup=self._wakeup,
                                 rng=rng)
        self.report = WorkerReport()

    # -- stopping ------------------------------------------------------------------------------

    def stop(self, *, immediately: bool = False) -> None:
        """Stop claiming; the running job gets the grace period (none `immediately`) to end."""
        if immediately:
            self._runner.grace = 0.0
        self._stopping.set()
        self._wakeup.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    # -- running -------------------------------------------------------------------------------

    def run(self) -> None:
        """Work until stopped: local duties on a thread of their own, jobs on this one."""
        log.info("worker.start owner=%s kinds=%s duties=%s", self.owner, ",".join(self._kinds),
                 ",".join(task.name for task in self._local))
        duties = threading.Thread(target=self._run_duties, name="papercast-duties", daemon=True)
        duties.start()
        idle_wait = FIRST_IDLE_WAIT
        woken = False
        while not self._stopping.is_set():
            self._wakeup.clear()  # before looking: a job enqueued from here on wakes the wait below
            worked, next_at = self._round(ask_again=woken)
            if worked:
                idle_wait, woken = FIRST_IDLE_WAIT, False
                continue
            # Woken (not timed out): this process queued work; tasks that wanted nothing are asked again.
            woken = self._wakeup.wait(self._wait_seconds(next_at, idle_wait))
            idle_wait = min(idle_wait * 2, self.config.interval)
        duties.join(timeout=self.config.grace)
        log.info("worker.stop owner=%s jobs=%s", self.owner, dict(self.report.jobs))

    def run_once(self) -> WorkerReport:
        """Enqueue what is due, run every job claimable now (a job that continues runs on), then
        one round of each local duty; for cron and tests."""
        self._scheduler.enqueue_due(self._clock.now())
        while not self._stopping.is_set() and self._claim_and_run():
            pass
        for task in self._local:
            if self._stopping.is_set():
                break
            self._run_duty(task)
        return self.report

    def _round(self, *, ask_again: bool = False) -> tuple[bool, datetime | None]:
        """One look: enqueue due periodic jobs, then run a job if one is claimable. Returns whether
        a job ran, and when the next one becomes claimable when none did."""
        try:
            now = self._clock.now()
            self._scheduler.enqueue_due(now, ask_again=ask_again)
            next_at = self._jobs.next_claimable_at(self._kinds)
            if next_at is None or next_at > now:
                return False, next_at
            return self._claim_and_run(), None
        except Exception:  # noqa: BLE001 - the loop outlives any round: a database away for a moment, a bug
            log.exception("worker.round_failed owner=%s; trying again after the idle wait", self.owner)
            return False, None

    def _claim_and_run(self) -> bool:
        job = self._jobs.claim(self.owner, self._kinds, self.config.lease)
        if job is None:
            return False
        self.report.jobs[self._runner.run(job)] += 1
        return True

    def _wait_seconds(self, next_at: datetime | None, idle_wait: float) -> float:
        wait = idle_wait
        if next_at is not None:
            wait = min(wait, (next_at - self._clock.now()).total_seconds())
        return max(0.0, wait)

    # -- local duties --------------------------------------------------------------------------

    def _run_duties(self) -> None:
        tracker = PeriodTracker()
        busy: set[str] = set()
        while not self._stopping.is_set():
            now = self._clock.now()
            for task in self._local:
                start = tracker.new_period(task, now)
                if start is None and task.name not in busy:
                    continue
                if self._run_duty(task):
                    busy.add(task.name)  # more may be waiting: again at once, not next period
                else:
                    busy.discard(task.name)
                if start is not None:
                    tracker.handled(task, start)
                if self._stopping.is_set():
                    return
            if not busy:
                self._stopping.wait(self._until_next_duty())

    def _run_duty(self, task: PeriodicTask) -> bool:
        assert task.duty is not None
        try:
            done = task.duty()
        except Exception:  # noqa: BLE001 - a failed duty is logged and runs again next period
            log.exception("worker.duty_failed task=%s", task.name)
            return False
        self.report.duties[task.name] += done
        return done > 0

    def _until_next_duty(self) -> float:
        now = self._clock.now()
        starts = [start for task in self._local if (start := task.schedule.next_start(now)) is not None]
        if not starts:
            return self.config.interval
        return max(0.0, min((min(starts) - now).total_seconds(), self.config.interval))
