"""The worker over the real job store, on SQLite and PostgreSQL: failures retried and never ending
the loop, periodic jobs enqueued once per period by several workers, stopping with a grace
period, lease renewal, and today's work (embedding, index following, similar papers) as tasks."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from papercast.bootstrap import Papercast, build
from papercast.clock import SystemClock
from papercast.domain.errors import PapercastError
from papercast.domain.jobs import (
    Every,
    JobBusy,
    JobCannotSucceed,
    JobOutcome,
    JobState,
    RetryPolicy,
)
from papercast.settings import Settings
from papercast.sources.minimal_jsonl import MinimalJsonlSource
from papercast.storage.jobs import SqlJobStore
from papercast.storage.tables import jobs as jobs_table
from papercast.storage.tables import paper_embeddings
from papercast.worker.background import background_worker
from papercast.worker.loop import Worker, WorkerConfig
from papercast.worker.registry import JobContext, JobKind, TaskRegistry, load_task_modules
from papercast.worker.runner import Outcome
from papercast.worker.schedule import PeriodicTask, Scope
from papercast.worker.tasks import build_worker
from support.clock import ManualClock

LEASE = timedelta(seconds=30)


def _registry(*kinds: JobKind) -> TaskRegistry:
    registry = TaskRegistry()
    for kind in kinds:
        registry.add(kind)
    return registry


def _worker(store: SqlJobStore, clock: object, *kinds: JobKind, tasks: tuple[PeriodicTask, ...] = (),
            grace: float = 5.0, lease: timedelta = LEASE, owner: str | None = None) -> Worker:
    config = WorkerConfig(interval=0.05, lease=lease, grace=grace)
    return Worker(store, _registry(*kinds), tasks, clock, config, owner=owner)  # type: ignore[arg-type]


def test_a_failing_job_is_retried_with_backoff_and_never_costs_the_others(engine: Engine) -> None:
    clock = ManualClock()
    store = SqlJobStore(engine, clock)
    calls: list[int] = []

    def flaky(context: JobContext) -> None:
        calls.append(context.job.attempts)
        if context.job.attempts < 3:
            raise ValueError(f"attempt {context.job.attempts} fails")

    def broken(_context: JobContext) -> None:
        raise KeyError("always")

    policy = RetryPolicy(max_attempts=3, backoff_initial=timedelta(seconds=10))
    worker = _worker(store, clock, JobKind("test.flaky", flaky, policy),
                     JobKind("test.broken", broken, policy), JobKind("test.fine", lambda _context: None))
    flaky_id, broken_id, fine_id = (store.enqueue("test.flaky"), store.enqueue("test.broken"),
                                    store.enqueue("test.fine"))
    worker.run_once()
    assert store.get(fine_id).state is JobState.DONE
    failed = store.get(flaky_id)
    assert failed.state is JobState.FAILED and "ValueError: attempt 1 fails" in (failed.last_error or "")
    assert clock.now() + timedelta(seconds=5) <= failed.run_at <= clock.now() + timedelta(seconds=10)
    for _ in range(4):
        clock.advance(3600)
        worker.run_once()
    assert calls == [1, 2, 3] and store.get(flaky_id).state is JobState.DONE
    dead = store.get(broken_id)
    assert (dead.state, dead.attempts) == (JobState.DEAD, 3)
    assert "Traceback" in (dead.last_error or "") and "KeyError: 'always'" in (dead.last_error or "")
    assert worker.report.jobs == {Outcome.DONE: 2, Outcome.FAILED: 4, Outcome.DEAD: 1}


def test_a_job_that_cannot_succeed_is_dead_at_once(engine: Engine) -> None:
    clock = ManualClock()
    store = SqlJobStore(engine, clock)

    def impossible(_context: JobContext) -> None:
        raise JobCannotSucceed("paper 2401.99999 does not exist")

    worker = _worker(store, clock, JobKind("test.impossible", impossible))
    job_id = store.enqueue("test.impossible")
    worker.run_once()
    job = store.get(job_id)
    assert (job.state, job.attempts) == (JobState.DEAD, 1)
    assert "paper 2401.99999 does not exist" in (job.last_error or "")


def test_a_job_whose_workers_keep_dying_is_given_up(engine: Engine) -> None:
    clock = ManualClock()
    store = SqlJobStore(engine, clock)
    ran: list[int] = []
    kind = JobKind("test.poison", lambda context: ran.append(context.job.attempts),
                   RetryPolicy(max_attempts=2))
    job_id = store.enqueue("test.poison")
    for _ in range(2):  # two workers claim it and die without a word
        assert store.claim("killed-worker", ["test.poison"], LEASE) is not None
        clock.advance(LEASE.total_seconds())
    _worker(store, clock, kind).run_once()
    job = store.get(job_id)
    assert ran == [] and job.state is JobState.DEAD
    assert "gave up after 2 attempts whose workers stopped" in (job.last_error or "")


def test_three_workers_enqueue_each_period_once(engine: Engine) -> None:
    clock = ManualClock()
    store = SqlJobStore(engine, clock)
    runs: list[str | None] = []
    kind = JobKind("test.tick", lambda context: runs.append(context.job.unique_key))
    task = PeriodicTask("test.tick", Every(timedelta(minutes=1)), Scope.CLUSTER)
    workers = [_worker(store, clock, kind, tasks=(task,), owner=f"worker-{n}") for n in range(3)]
    for _ in range(5):  # every 30 s from 16:00:00 to 16:02:00, each worker in turn
        for worker in workers:
            worker.run_once()
        clock.advance(30)
    assert runs == ["test.tick@2026-12-03T16:00:00Z", "test.tick@2026-12-03T16:01:00Z",
                    "test.tick@2026-12-03T16:02:00Z"]
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(jobs_table)).scalar_one() == 3


def test_a_period_with_nothing_wanted_enqueues_nothing(engine: Engine) -> None:
    clock = ManualClock()
    store = SqlJobStore(engine, clock)
    wanted = [False]
    task = PeriodicTask("test.tick", Every(timedelta(minutes=1)), Scope.CLUSTER, wanted=lambda: wanted[0])
    worker = _worker(store, clock, JobKind("test.tick", lambda _context: None), tasks=(task,))
    worker.run_once()
    assert store.list() == []
    wanted[0] = True
    worker.run_once()  # the same period: already looked at
    clock.advance(60)
    worker.run_once()
    assert [job.unique_key for job in store.list()] == ["test.tick@2026-12-03T16:01:00Z"]


def test_a_stopping_worker_releases_a_job_that_outlasts_the_grace_period(engine: Engine) -> None:
    store = SqlJobStore(engine, SystemClock())
    started, never = threading.Event(), threading.Event()

    def stubborn(_context: JobContext) -> None:
        started.set()
        never.wait(60)  # ignores the stop signal

    worker = _worker(store, SystemClock(), JobKind("test.stubborn", stubborn), grace=0.2)
    job_id = store.enqueue("test.stubborn")
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        assert started.wait(30)
        worker.stop()
        thread.join(30)
        assert not thread.is_alive()
        job = store.get(job_id)
        assert (job.state, job.attempts, job.lease_owner) == (JobState.DUE, 0, None)
        assert worker.report.jobs == {Outcome.RELEASED: 1}
    finally:
        never.set()


def test_a_job_that_heeds_the_stop_ends_within_the_grace_period(engine: Engine) -> None:
    store = SqlJobStore(engine, SystemClock())
    started = threading.Event()

    def polite(context: JobContext) -> JobOutcome:
        started.set()
        context.stopping.wait(60)
        return JobOutcome.CONTINUE  # stopped half-way: the rest runs later, on any worker

    worker = _worker(store, SystemClock(), JobKind("test.polite", polite), grace=30)
    job_id = store.enqueue("test.polite")
    with background_worker(worker):
        assert started.wait(30)
    assert worker.report.jobs == {Outcome.CONTINUED: 1}
    assert store.get(job_id).state is JobState.DUE


def test_the_lease_is_renewed_while_a_job_runs(engine: Engine) -> None:
    store = SqlJobStore(engine, SystemClock())
    renewed = threading.Event()

    def long_running(context: JobContext) -> None:
        first_expiry = context.job.lease_expires_at
        for _ in range(300):  # up to 30 s on a busy machine; a renewal comes after about 1 s
            if store.get(context.job.id).lease_expires_at != first_expiry:
                renewed.set()
                return
            context.stopping.wait(0.1)

    worker = _worker(store, SystemClock(), JobKind("test.long", long_running), lease=timedelta(seconds=3))
    job_id = store.enqueue("test.long")
    worker.run_once()
    assert renewed.is_set() and store.get(job_id).state is JobState.DONE


def test_a_job_cancelled_while_it_runs_keeps_the_operators_word(engine: Engine) -> None:
    clock = ManualClock()
    store = SqlJobStore(engine, clock)

    def cancelled_meanwhile(context: JobContext) -> None:
        store.cancel(context.job.id)

    worker = _worker(store, clock, JobKind("test.cancelled", cancelled_meanwhile))
    job_id = store.enqueue("test.cancelled")
    worker.run_once()
    assert worker.report.jobs == {Outcome.LOST: 1}
    job = store.get(job_id)
    assert (job.state, job.last_error) == (JobState.DEAD, "cancelled by an operator")


def test_task_modules_add_job_kinds_and_a_missing_one_is_named() -> None:
    registry = TaskRegistry()
    load_task_modules(registry, " support.job_kinds , ", _FakePapercast())
    assert registry.names() == ["test.record"]
    with pytest.raises(PapercastError, match="cannot load worker task module 'support.nothing_here'"):
        load_task_modules(TaskRegistry(), "support.nothing_here", _FakePapercast())
    with pytest.raises(ValueError, match="registered twice"):
        load_task_modules(registry, "support.job_kinds", _FakePapercast())


class _FakePapercast:
    engine = None


# -- today's work as tasks ---------------------------------------------------------------------


def _papercast(database_url: str, data_dir: Path) -> Papercast:
    settings = Settings.load(env={}, data_dir=data_dir, database_url=database_url, embedding_model="hashing")
    return build(settings)


def test_todays_work_runs_as_tasks_and_two_workers_embed_once(
        database_url: str, tmp_path: Path, shared_data: Path) -> None:
    first, second = _papercast(database_url, tmp_path / "data"), _papercast(database_url, tmp_path / "data")
    try:
        source = MinimalJsonlSource(shared_data / "seed-papers.jsonl")
        first.ingest.ingest(source.items(), source.name)
        report = build_worker(first).run_once()
        assert report.jobs == {Outcome.DONE: 3}  # embed-backlog, prune-jobs, prune-accounts (no mail is due)
        assert report.duties["follow-index"] == 2 * 236 and report.duties["similar-papers"] == 236
        again = build_worker(second).run_once()  # the same period, another process: nothing to run
        assert again.jobs == {} and again.duties["follow-index"] == 0  # it reloads the writer's index
        status = first.index_follower().status()
        assert (status.embeddings_pending, status.keyword_lag_changes, status.neighbours_pending) == (0, 0, 0)
        with first.engine.connect() as connection:
            assert connection.execute(select(func.count()).select_from(paper_embeddings)).scalar_one() == 236
        kinds = sorted(job.kind for job in first.jobs.list())
        assert kinds == ["embed-backlog", "prune-accounts", "prune-jobs"]
    finally:
        first.close()
        second.close()


def test_an_enqueue_in_this_process_wakes_its_worker(database_url: str, tmp_path: Path) -> None:
    papercast = _papercast(database_url, tmp_path / "data")
    try:
        assert not papercast.job_enqueued.is_set()
        papercast.jobs.enqueue("test.record")
        assert papercast.job_enqueued.is_set()
        assert build_worker(papercast)._wakeup is papercast.job_enqueued
    finally:
        papercast.close()


def test_embedding_continues_in_slices_that_let_other_jobs_run(database_url: str, tmp_path: Path,
                                                              shared_data: Path) -> None:
    papercast = _papercast(database_url, tmp_path / "data")
    try:
        source = MinimalJsonlSource(shared_data / "seed-papers.jsonl")
        papercast.ingest.ingest(source.items(), source.name)
        report = build_worker(papercast, embed_batch=100).run_once()
        assert report.jobs == {Outcome.CONTINUED: 2, Outcome.DONE: 3}  # 100 + 100 + 36, and two prunes
        assert papercast.embedding_service().pending_count() == 0
    finally:
        papercast.close()


# -- deferral, wake-ups, tasks with their own kind --------------------------------------------


def test_a_job_whose_work_another_job_is_doing_waits_without_losing_an_attempt(engine: Engine) -> None:
    clock = ManualClock()
    store = SqlJobStore(engine, clock)

    def busy(context: JobContext) -> None:
        raise JobBusy("job 7 is harvesting oai:cs", timedelta(minutes=1))

    worker = _worker(store, clock, JobKind("test.busy", busy, RetryPolicy(max_attempts=1)))
    job_id = store.enqueue("test.busy")
    worker.run_once()
    job = store.get(job_id)
    assert (job.state, job.attempts, job.run_at, job.last_error) == (
        JobState.DUE, 0, clock.now() + timedelta(minutes=1), None)
    assert worker.report.jobs == {Outcome.DEFERRED: 1}
    worker.run_once()  # not yet due
    assert worker.report.jobs == {Outcome.DEFERRED: 1}


def test_a_task_may_run_another_kind_with_a_payload_later_in_its_period(engine: Engine) -> None:
    clock = ManualClock()
    store = SqlJobStore(engine, clock)
    runs: list[tuple[str | None, object]] = []
    kind = JobKind("test.tick", lambda context: runs.append((context.job.unique_key, context.payload)))
    task = PeriodicTask("test.tick:cs", Every(timedelta(hours=1)), Scope.CLUSTER, kind="test.tick",
                        payload={"source": "cs"}, delay=timedelta(minutes=30))
    worker = _worker(store, clock, kind, tasks=(task,))
    worker.run_once()
    (job,) = store.list()
    assert (job.kind, job.unique_key, job.run_at) == ("test.tick", "test.tick:cs@2026-12-03T16:00:00Z",
                                                      clock.now() + timedelta(minutes=30))
    assert runs == []
    clock.advance(30 * 60)
    worker.run_once()
    assert runs == [("test.tick:cs@2026-12-03T16:00:00Z", {"source": "cs"})]


def test_a_wake_up_asks_a_task_that_wanted_nothing_again_within_its_period(engine: Engine) -> None:
    store = SqlJobStore(engine, SystemClock())
    asked, mail_waits, ran, wakeup = (threading.Event() for _ in range(4))

    def wanted() -> bool:
        asked.set()
        return mail_waits.is_set()

    task = PeriodicTask("test.mail", Every(timedelta(days=1)), Scope.CLUSTER, wanted=wanted)
    config = WorkerConfig(interval=0.05, lease=LEASE, grace=5.0)
    registry = _registry(JobKind("test.mail", lambda _context: ran.set()))
    worker = Worker(store, registry, (task,), SystemClock(), config, wakeup=wakeup)
    with background_worker(worker):
        assert asked.wait(30)  # the day's period began with nothing wanted
        mail_waits.set()  # then mail was queued in this process ...
        wakeup.set()  # ... and its commit woke the worker: the day need not end first
        assert ran.wait(30)
    assert [job.kind for job in store.list()] == ["test.mail"]


def test_a_sign_in_request_wakes_the_worker_which_sends_the_mail(database_url: str, tmp_path: Path) -> None:
    papercast = _papercast(database_url, tmp_path / "data")
    try:
        worker = build_worker(papercast)
        worker.run_once()  # this period's periodic jobs are done: the wake-up job is all that is left
        papercast.job_enqueued.clear()
        papercast.accounts().request_sign_in("ann@example.org", "192.0.2.1")
        assert papercast.job_enqueued.is_set()
        worker.run_once()
        assert [job.state for job in papercast.jobs.list(kinds=["send-mail"])] == [JobState.DONE]
        [mail] = (tmp_path / "data" / "mail").glob("*.eml")
        assert "To: ann@example.org" in mail.read_text() and "/sign-in/confirm?token=" in mail.read_text()
    finally:
        papercast.close()
