"""Runs one claimed job: its handler on a thread of its own, the lease renewed while it runs,
and its outcome recorded; when the worker stops, the job gets a grace period to end before its
lease is released for another worker.

The handler runs on its own (daemon) thread so that the worker can keep the lease alive, notice
a stop, and walk away from a handler that does not return in time: the process exiting ends it.
"""

from __future__ import annotations

import logging
import random
import threading
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from papercast.clock import Clock
from papercast.domain.jobs import Job, JobBusy, JobCannotSucceed, JobEvent, JobOutcome
from papercast.ports import JobStore
from papercast.worker.registry import JobContext, JobKind, TaskRegistry

log = logging.getLogger("papercast.worker")


class Outcome(StrEnum):
    """How a claimed job ended for this worker (`WorkerReport` counts them)."""

    DONE = "done"
    CONTINUED = "continued"
    DEFERRED = "deferred"  # its work was being done by another job: due again later, attempt not counted
    FAILED = "failed"  # retried later
    DEAD = "dead"
    RELEASED = "released"  # the worker stopped first; due again for any worker
    LOST = "lost"  # no longer this worker's (lease expired and taken, or cancelled): nothing recorded


@dataclass
class _Execution:
    """A handler running on its thread; `finished` is set when it returned or raised."""

    kind: JobKind
    context: JobContext
    finished: threading.Event = field(default_factory=threading.Event)
    outcome: JobOutcome | None = None
    error: BaseException | None = None
    error_text: str = ""

    def start(self, on_finish: threading.Event) -> None:
        name = f"papercast-job-{self.context.job.id}"
        threading.Thread(target=self._run, args=(on_finish,), name=name, daemon=True).start()

    def _run(self, on_finish: threading.Event) -> None:
        try:
            self.outcome = self.kind.run(self.context)
        except BaseException as error:  # noqa: BLE001 - whatever a handler raises fails its job, recorded
            self.error = error
            self.error_text = "".join(traceback.format_exception(error)).strip()
        finally:
            self.finished.set()
            on_finish.set()


class JobRunner:
    """Runs claimed jobs for one worker (`owner`) and records how each ended."""

    def __init__(self, jobs: JobStore, registry: TaskRegistry, clock: Clock, owner: str, *,
                 lease: timedelta, grace: float, stopping: threading.Event, wakeup: threading.Event,
                 rng: random.Random | None = None) -> None:
        self._jobs = jobs
        self._registry = registry
        self._clock = clock
        self._owner = owner
        self._lease = lease
        self._stopping = stopping
        self._wakeup = wakeup
        self._rng = rng or random.Random()
        self.grace = grace  # seconds a stopping worker waits for the running job

    def run(self, job: Job) -> Outcome:
        kind = self._registry.get(job.kind)
        if kind.retry.out_of_attempts(job.attempts):
            # Every earlier attempt's worker stopped mid-job (killed, crashed): this job may be why.
            reason = (f"gave up after {job.attempts - 1} attempts whose workers stopped before the job "
                      "ended (killed or crashed)")
            return self._record(job, JobEvent.GIVE_UP, reason, None)
        started = self._clock.monotonic()
        execution = _Execution(kind, JobContext(job, self._stopping))
        execution.start(on_finish=self._wakeup)
        if not self._supervise(job, execution):
            return self._release(job)
        outcome = self._settle(job, kind, execution)
        log.info("worker.job id=%d kind=%s attempt=%d outcome=%s seconds=%.2f", job.id, job.kind,
                 job.attempts, outcome, self._clock.monotonic() - started)
        return outcome

    def _supervise(self, job: Job, execution: _Execution) -> bool:
        """Wait for the handler, renewing the lease; False when the worker is stopping and the
        grace period ran out first."""
        beat = self._lease.total_seconds() / 3
        next_beat = self._clock.monotonic() + beat
        deadline: float | None = None
        holding = True
        while not execution.finished.is_set():
            now = self._clock.monotonic()
            if deadline is None and self._stopping.is_set():
                deadline = now + self.grace
            if deadline is not None and now >= deadline:
                return False
            if holding and now >= next_beat:
                holding = self._renew(job)
                next_beat = now + beat
            wake_at = min(next_beat, deadline) if deadline is not None else next_beat
            self._wakeup.wait(max(0.0, wake_at - now))
            self._wakeup.clear()
        return True

    def _renew(self, job: Job) -> bool:
        try:
            if self._jobs.extend_lease(job.id, self._owner, self._lease):
                return True
        except Exception:  # noqa: BLE001 - the database may be away for a moment: try at the next beat
            log.exception("worker.lease_renewal_failed id=%d", job.id)
            return True
        log.warning("worker.job_lost id=%d kind=%s: its lease was taken over or it was cancelled; "
                    "its result will not be recorded", job.id, job.kind)
        return False

    def _release(self, job: Job) -> Outcome:
        released = self._jobs.release(job.id, self._owner)
        log.warning("worker.job_released id=%d kind=%s: still running after the %.1f s grace period%s",
                    job.id, job.kind, self.grace, "" if released else " (it was no longer this worker's)")
        return Outcome.RELEASED if released else Outcome.LOST

    def _settle(self, job: Job, kind: JobKind, execution: _Execution) -> Outcome:
        if execution.error is None:
            if execution.outcome is JobOutcome.CONTINUE:
                held = self._jobs.continue_later(job.id, self._owner)
                return Outcome.CONTINUED if held else self._lost(job)
            return Outcome.DONE if self._jobs.complete(job.id, self._owner) else self._lost(job)
        if isinstance(execution.error, JobBusy):
            log.info("worker.job_deferred id=%d kind=%s: %s", job.id, job.kind, execution.error)
            later = self._clock.now() + execution.error.retry_after
            held = self._jobs.continue_later(job.id, self._owner, later)
            return Outcome.DEFERRED if held else self._lost(job)
        if isinstance(execution.error, JobCannotSucceed):
            return self._record(job, JobEvent.GIVE_UP, execution.error_text, None)
        event, retry_at = kind.retry.after_failure(job.attempts, self._clock.now(), self._rng.random())
        log.warning("worker.job_failed id=%d kind=%s attempt=%d error=%r%s", job.id, job.kind, job.attempts,
                    str(execution.error), f" retry_at={retry_at.isoformat()}" if retry_at else " dead")
        return self._record(job, event, execution.error_text, retry_at)

    def _record(self, job: Job, event: JobEvent, error: str, retry_at: datetime | None) -> Outcome:
        held = self._jobs.fail(job.id, self._owner, event, error, retry_at)
        if not held:
            return self._lost(job)
        return Outcome.DEAD if event is JobEvent.GIVE_UP else Outcome.FAILED

    def _lost(self, job: Job) -> Outcome:
        log.warning("worker.job_lost id=%d kind=%s: finished, but no longer this worker's (lease taken "
                    "over or cancelled); nothing recorded", job.id, job.kind)
        return Outcome.LOST
