"""Job kinds only tests use, loaded into real worker processes through
PAPERCAST_WORKER_TASK_MODULES=support.job_kinds (with tests/ on PYTHONPATH).

`test.record` writes a row when it starts and one when it finishes (job, attempt, process),
each in its own transaction, so a test can count how often each job ran. Its payload may ask it
to sleep first (`sleep` seconds, in its first `sleep_runs` runs, default 1, waking on the stop
signal unless `ignore_stop`) and to fail its first `fail_times` attempts.
"""

from __future__ import annotations

import os
import time
from typing import Any

from sqlalchemy import BigInteger, Column, Engine, Integer, MetaData, String, Table, func, select

from papercast.domain.jobs import JobOutcome
from papercast.worker.registry import JobContext, JobKind, TaskRegistry

metadata = MetaData()
job_runs = Table(
    "test_job_runs",
    metadata,
    Column("job_id", BigInteger, nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("pid", Integer, nullable=False),
    Column("event", String(20), nullable=False),  # started, finished
)


def create_table(engine: Engine) -> None:
    """Create `test_job_runs` (before starting workers: they only write to it)."""
    metadata.create_all(engine)


class RecordingJob:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def __call__(self, context: JobContext) -> JobOutcome:
        payload: dict[str, Any] = context.payload
        if self._record(context, "started") <= int(payload.get("sleep_runs", 1)):
            self._sleep(context, float(payload.get("sleep", 0)), bool(payload.get("ignore_stop")))
        if context.job.attempts <= int(payload.get("fail_times", 0)):
            raise RuntimeError(f"failing attempt {context.job.attempts} on purpose")
        self._record(context, "finished")
        return JobOutcome.DONE

    def _sleep(self, context: JobContext, seconds: float, ignore_stop: bool) -> None:
        if ignore_stop:
            time.sleep(seconds)
        else:
            context.stopping.wait(seconds)

    def _record(self, context: JobContext, event: str) -> int:
        """Write the row; how many rows of this event the job has now."""
        job_id = context.job.id
        with self._engine.begin() as connection:
            connection.execute(job_runs.insert().values(job_id=job_id, attempt=context.job.attempts,
                                                        pid=os.getpid(), event=event))
            return int(connection.execute(select(func.count()).where(
                job_runs.c.job_id == job_id, job_runs.c.event == event)).scalar_one())


def register_tasks(registry: TaskRegistry, papercast: Any) -> None:
    registry.add(JobKind("test.record", RecordingJob(papercast.engine), description="records its runs"))
