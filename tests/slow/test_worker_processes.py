"""Real `papercast worker` processes on one PostgreSQL: two of them run 2,000 jobs each exactly
once; a worker killed with SIGKILL mid-job has its job run by another once the lease expires;
SIGTERM releases a job that outlasts the grace period, and lets one that heeds it finish.

The job kind is `test.record` from `tests/support/job_kinds.py`, loaded into the workers through
PAPERCAST_WORKER_TASK_MODULES; it records every start and finish in `test_job_runs`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from papercast.bootstrap import Papercast, build
from papercast.domain.jobs import JobState
from papercast.settings import Settings
from papercast.storage.tables import jobs
from support import job_kinds

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

PAPERCAST = Path(sys.executable).parent / "papercast"
TESTS = Path(__file__).resolve().parents[1]


@pytest.fixture
def env(postgres_url: str, tmp_path: Path) -> dict[str, str]:
    base = {key: value for key, value in os.environ.items() if not key.startswith("PAPERCAST_")}
    return {**base, "PAPERCAST_DATABASE_URL": postgres_url, "PAPERCAST_DATA_DIR": str(tmp_path / "data"),
            "PAPERCAST_EMBEDDING_MODEL": "hashing", "PAPERCAST_WORKER_TASK_MODULES": "support.job_kinds",
            "PAPERCAST_WORKER_INTERVAL": "0.5", "PAPERCAST_LOG_LEVEL": "INFO",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(TESTS), base.get("PYTHONPATH")]))}


@pytest.fixture
def papercast(env: dict[str, str]) -> Iterator[Papercast]:
    papercast = build(Settings.load(env=env))
    job_kinds.create_table(papercast.engine)
    yield papercast
    papercast.close()


class Workers:
    """`papercast worker` processes started by a test; each logs to its own file."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self._env = env
        self._logs = logs
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self, **settings: str) -> subprocess.Popen[bytes]:
        env = {**self._env, **{f"PAPERCAST_{name.upper()}": value for name, value in settings.items()}}
        log = (self._logs / f"worker-{len(self.processes)}.log").open("wb")
        process = subprocess.Popen([str(PAPERCAST), "worker"], env=env, stdout=log, stderr=subprocess.STDOUT)
        self.processes.append(process)
        return process

    def log(self, number: int) -> str:
        return (self._logs / f"worker-{number}.log").read_text(errors="replace")

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture
def workers(env: dict[str, str], tmp_path: Path) -> Iterator[Workers]:
    started = Workers(env, tmp_path)
    yield started
    started.stop_all()


def wait_for(condition: Callable[[], Any], what: str, timeout: float = 180.0) -> Any:
    """Poll `condition` until it is true; fail naming `what` after `timeout` seconds (a machine
    shared with other work can be slow, so the limits are generous; nothing here is timed)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.2)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")


def runs(engine: Engine, event: str) -> list[tuple[int, int, int]]:
    """(job id, attempt, pid) of every recorded `event` (started, finished)."""
    table = job_kinds.job_runs
    with engine.connect() as connection:
        rows = connection.execute(select(table.c.job_id, table.c.attempt, table.c.pid)
                                  .where(table.c.event == event).order_by(table.c.job_id, table.c.attempt))
        return [(int(a), int(b), int(c)) for a, b, c in rows]


def states(engine: Engine) -> dict[str, int]:
    """How many `test.record` jobs are in each state (the workers' own periodic jobs aside)."""
    with engine.connect() as connection:
        return dict(connection.execute(select(jobs.c.state, func.count()).where(jobs.c.kind == "test.record")
                                       .group_by(jobs.c.state)).all())


def test_two_workers_run_2000_jobs_each_exactly_once(papercast: Papercast, workers: Workers) -> None:
    with papercast.units.begin() as transaction:  # one transaction: the workers see all or nothing
        ids = [transaction.jobs.enqueue("test.record", {"n": n}) for n in range(2000)]
    first, second = workers.start(), workers.start()
    wait_for(lambda: states(papercast.engine).get("done", 0) >= 2000, "2,000 jobs done", timeout=600)
    finished = runs(papercast.engine, "finished")
    assert Counter(job_id for job_id, _, _ in finished) == Counter(ids)  # each job exactly once
    assert set(runs(papercast.engine, "started")) == set(finished)  # and no run was left half-way
    by_process = Counter(pid for _, _, pid in finished)
    assert set(by_process) == {first.pid, second.pid}, by_process  # both took part
    workers.stop_all()
    assert states(papercast.engine) == {"done": 2000}
    assert {job.attempts for job in papercast.jobs.list(kinds=["test.record"], limit=2000)} == {1}
    assert [process.returncode for process in workers.processes] == [0, 0]


def test_a_killed_workers_job_is_run_by_another_once_its_lease_expires(
        papercast: Papercast, workers: Workers) -> None:
    job_id = papercast.jobs.enqueue("test.record", {"sleep": 600})
    killed = workers.start(worker_lease_seconds="3")
    wait_for(lambda: runs(papercast.engine, "started"), "the job to start")
    killed.send_signal(signal.SIGKILL)
    killed.wait(timeout=60)
    held = papercast.jobs.get(job_id)
    assert held.state is JobState.RUNNING and held.lease_owner and f":{killed.pid}:" in held.lease_owner
    survivor = workers.start(worker_lease_seconds="3")
    wait_for(lambda: papercast.jobs.get(job_id).state is JobState.DONE, "another worker to run the job")
    assert runs(papercast.engine, "started") == [(job_id, 1, killed.pid), (job_id, 2, survivor.pid)]
    assert runs(papercast.engine, "finished") == [(job_id, 2, survivor.pid)]
    assert papercast.jobs.get(job_id).attempts == 2


def test_sigterm_releases_a_job_that_outlasts_the_grace_period(
        papercast: Papercast, workers: Workers) -> None:
    job_id = papercast.jobs.enqueue("test.record", {"sleep": 600, "ignore_stop": True})
    stopped = workers.start(worker_grace_seconds="1")
    wait_for(lambda: runs(papercast.engine, "started"), "the job to start")
    stopped.send_signal(signal.SIGTERM)
    assert stopped.wait(timeout=120) == 0  # it did not wait for the ten-minute job
    released = papercast.jobs.get(job_id)
    assert (released.state, released.lease_owner, released.attempts) == (JobState.DUE, None, 0)
    assert "worker.job_released" in workers.log(0)
    successor = workers.start()  # claims it at once: no lease to wait for
    wait_for(lambda: papercast.jobs.get(job_id).state is JobState.DONE, "the released job to run again")
    assert runs(papercast.engine, "finished") == [(job_id, 1, successor.pid)]


def test_sigterm_lets_a_job_that_heeds_it_finish(papercast: Papercast, workers: Workers) -> None:
    job_id = papercast.jobs.enqueue("test.record", {"sleep": 600})
    stopped = workers.start(worker_grace_seconds="60")
    wait_for(lambda: runs(papercast.engine, "started"), "the job to start")
    stopped.send_signal(signal.SIGTERM)
    assert stopped.wait(timeout=120) == 0
    assert papercast.jobs.get(job_id).state is JobState.DONE
    assert runs(papercast.engine, "finished") == [(job_id, 1, stopped.pid)]
