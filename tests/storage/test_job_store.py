"""Contract tests for the job store on SQLite and PostgreSQL: enqueue, claim with a lease, lease
expiry, retries, dead jobs, unique keys per period, operators' retry and cancel, concurrent claims.
Time comes from a manual clock, so leases expire and backoffs pass without waiting."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import Engine, func, select

from papercast.domain.errors import Conflict, InvalidInput, NotFound
from papercast.domain.jobs import IllegalTransition, JobEvent, JobState
from papercast.storage.jobs import SqlJobStore
from papercast.storage.tables import jobs as jobs_table
from support.clock import ManualClock

LEASE = timedelta(seconds=30)
KINDS = ["test.a", "test.b"]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def store(engine: Engine, clock: ManualClock) -> SqlJobStore:
    return SqlJobStore(engine, clock)


def test_an_enqueued_job_is_due_with_its_payload(store: SqlJobStore, clock: ManualClock) -> None:
    job_id = store.enqueue("test.a", {"paper": "2401.01234", "n": 2})
    assert job_id is not None
    job = store.get(job_id)
    assert (job.kind, job.state, job.attempts) == ("test.a", JobState.DUE, 0)
    assert job.payload == {"paper": "2401.01234", "n": 2}
    assert job.run_at == clock.now() and job.run_at.tzinfo is not None
    assert job.lease_owner is None and job.last_error is None


def test_a_unique_key_is_enqueued_once(store: SqlJobStore) -> None:
    first = store.enqueue("test.a", {"x": 1}, unique_key="daily@2026-12-03")
    assert first is not None
    assert store.enqueue("test.a", {"x": 2}, unique_key="daily@2026-12-03") is None
    assert store.enqueue("test.b", unique_key="daily@2026-12-04") is not None
    assert store.enqueue("test.a") != store.enqueue("test.a")  # no key: every enqueue adds one
    assert [job.payload for job in store.list(kinds=["test.a"]) if job.unique_key] == [{"x": 1}]


def test_bad_input_is_refused_naming_the_field(store: SqlJobStore) -> None:
    with pytest.raises(InvalidInput, match="job kind"):
        store.enqueue("Not A Kind")
    with pytest.raises(InvalidInput, match="payload of a test.a job is not JSON"):
        store.enqueue("test.a", {"when": object()})
    with pytest.raises(InvalidInput, match="must be a JSON object"):
        store.enqueue("test.a", ["a", "list"])


def test_a_claim_takes_the_earliest_due_job_of_its_kinds_with_a_lease(
        store: SqlJobStore, clock: ManualClock) -> None:
    later = store.enqueue("test.a", run_at=clock.now() + timedelta(seconds=60))
    first = store.enqueue("test.a")
    other_kind = store.enqueue("test.other")
    job = store.claim("worker-1", KINDS, LEASE)
    assert job is not None and job.id == first
    assert (job.state, job.attempts, job.lease_owner) == (JobState.RUNNING, 1, "worker-1")
    assert job.lease_expires_at == clock.now() + LEASE
    assert store.claim("worker-2", KINDS, LEASE) is None  # the later one is not due yet
    assert store.next_claimable_at(KINDS) == clock.now() + timedelta(seconds=30)  # first's lease expiry
    clock.advance(60)
    assert store.claim("worker-2", ["test.a"], LEASE).id == first  # lease expired; earliest run-at
    assert store.claim("worker-3", ["test.a"], LEASE).id == later
    assert store.get(other_kind).state is JobState.DUE  # nobody asked for its kind
    assert store.claim("worker-3", [], LEASE) is None


def test_next_claimable_at_is_what_an_idle_worker_polls(store: SqlJobStore, clock: ManualClock) -> None:
    assert store.next_claimable_at(KINDS) is None
    store.enqueue("test.a", run_at=clock.now() + timedelta(minutes=5))
    assert store.next_claimable_at(KINDS) == clock.now() + timedelta(minutes=5)
    assert store.next_claimable_at(["test.b"]) is None


def test_an_expired_lease_makes_the_job_claimable_again(store: SqlJobStore, clock: ManualClock) -> None:
    job_id = store.enqueue("test.a")
    assert store.claim("dead-worker", KINDS, LEASE) is not None
    clock.advance(29)
    assert store.claim("worker-2", KINDS, LEASE) is None
    clock.advance(1)
    again = store.claim("worker-2", KINDS, LEASE)
    assert again is not None and again.id == job_id
    assert (again.lease_owner, again.attempts) == ("worker-2", 2)
    # The first holder comes back: it no longer holds the job, so its reports change nothing.
    assert not store.complete(job_id, "dead-worker")
    assert not store.extend_lease(job_id, "dead-worker", LEASE)
    assert store.complete(job_id, "worker-2")
    assert store.get(job_id).state is JobState.DONE


def test_a_renewed_lease_keeps_the_job(store: SqlJobStore, clock: ManualClock) -> None:
    job_id = store.enqueue("test.a")
    store.claim("worker-1", KINDS, LEASE)
    for _ in range(3):
        clock.advance(20)
        assert store.extend_lease(job_id, "worker-1", LEASE)
    assert store.claim("worker-2", KINDS, LEASE) is None
    assert store.get(job_id).lease_expires_at == clock.now() + LEASE


def test_a_failed_attempt_waits_for_its_retry_time(store: SqlJobStore, clock: ManualClock) -> None:
    job_id = store.enqueue("test.a")
    store.claim("worker-1", KINDS, LEASE)
    retry_at = clock.now() + timedelta(seconds=45)
    assert store.fail(job_id, "worker-1", JobEvent.FAIL, "ValueError: boom", retry_at)
    job = store.get(job_id)
    assert (job.state, job.run_at, job.last_error, job.lease_owner) == (JobState.FAILED, retry_at,
                                                                        "ValueError: boom", None)
    clock.advance(44)
    assert store.claim("worker-1", KINDS, LEASE) is None
    clock.advance(1)
    again = store.claim("worker-1", KINDS, LEASE)
    assert again is not None and (again.id, again.attempts) == (job_id, 2)


def test_giving_up_keeps_the_job_dead_with_its_error(store: SqlJobStore, clock: ManualClock) -> None:
    job_id = store.enqueue("test.a")
    store.claim("worker-1", KINDS, LEASE)
    assert store.fail(job_id, "worker-1", JobEvent.GIVE_UP, "Traceback …\nKeyError: 'x'", None)
    clock.advance(86_400)
    assert store.claim("worker-1", KINDS, LEASE) is None
    job = store.get(job_id)
    assert job.state is JobState.DEAD and job.last_error == "Traceback …\nKeyError: 'x'"
    with pytest.raises(ValueError):
        store.fail(job_id, "worker-1", JobEvent.COMPLETE, "", None)


def test_a_released_job_is_due_at_once_and_the_attempt_does_not_count(
        store: SqlJobStore, clock: ManualClock) -> None:
    job_id = store.enqueue("test.a", run_at=clock.now() - timedelta(minutes=1))
    store.claim("stopping-worker", KINDS, LEASE)
    clock.advance(5)
    assert store.release(job_id, "stopping-worker")
    job = store.get(job_id)
    assert (job.state, job.attempts, job.lease_owner, job.run_at) == (JobState.DUE, 0, None, clock.now())
    assert store.claim("worker-2", KINDS, LEASE).attempts == 1


def test_a_job_that_continues_is_due_again_with_fresh_attempts(
        store: SqlJobStore, clock: ManualClock) -> None:
    job_id = store.enqueue("test.a")
    store.claim("worker-1", KINDS, LEASE)
    store.fail(job_id, "worker-1", JobEvent.FAIL, "once", clock.now())
    store.claim("worker-1", KINDS, LEASE)
    assert store.continue_later(job_id, "worker-1")
    job = store.get(job_id)
    assert (job.state, job.attempts, job.last_error) == (JobState.DUE, 0, None)


def test_the_unique_key_of_a_period_is_taken_once_and_open_work_skips_periods(
        store: SqlJobStore, clock: ManualClock) -> None:
    start = clock.now()
    enqueue = store.enqueue_periodic
    first = enqueue("test.a", {}, "embed@16:00", start)
    assert first is not None
    assert enqueue("test.a", {}, "embed@16:00", start) is None  # the same period from another worker
    assert enqueue("test.a", {}, "embed@16:10", start) is None  # period 16:00's job is still due
    assert enqueue("test.a", {"source": "hf"}, "embed-hf@16:10", start) is not None  # other work
    store.claim("worker-1", ["test.a"], LEASE)
    store.claim("worker-1", ["test.a"], LEASE)
    assert enqueue("test.a", {}, "embed@16:10", start) is None  # ... and still running
    store.complete(first, "worker-1")
    assert enqueue("test.a", {}, "embed@16:10", start) is not None
    assert enqueue("test.a", {}, "embed@16:00", start) is None  # a done period stays taken


def test_operators_retry_failed_and_dead_jobs_and_cancel_unfinished_ones(
        store: SqlJobStore, clock: ManualClock) -> None:
    dead, running, due = store.enqueue("test.a"), store.enqueue("test.a"), store.enqueue("test.b")
    store.claim("w", KINDS, LEASE)
    store.fail(dead, "w", JobEvent.GIVE_UP, "boom", None)
    store.claim("w", KINDS, LEASE)
    clock.advance(10)
    retried = store.retry(dead)
    assert (retried.state, retried.attempts, retried.run_at) == (JobState.DUE, 0, clock.now())
    cancelled = store.cancel(running)
    assert (cancelled.state, cancelled.last_error, cancelled.lease_owner) == (
        JobState.DEAD, "cancelled by an operator", None)
    assert not store.complete(running, "w")  # its worker finds it gone
    assert store.cancel(due).state is JobState.DEAD
    with pytest.raises(IllegalTransition, match="a due job cannot be retried"):
        store.retry(dead)
    with pytest.raises(Conflict, match="a dead job cannot be cancelled"):
        store.cancel(due)
    with pytest.raises(NotFound, match="no job 999"):
        store.retry(999)


def test_list_narrows_by_state_and_kind_newest_first(store: SqlJobStore) -> None:
    ids = [store.enqueue("test.a"), store.enqueue("test.b"), store.enqueue("test.a")]
    store.claim("w", ["test.b"], LEASE)
    assert [job.id for job in store.list()] == ids[::-1]
    assert [job.id for job in store.list(kinds=["test.a"], limit=1)] == [ids[2]]
    assert [job.id for job in store.list(states=[JobState.RUNNING])] == [ids[1]]
    assert store.counts() == {("test.a", JobState.DUE): 2, ("test.b", JobState.RUNNING): 1}


def test_prune_deletes_old_done_jobs_only(store: SqlJobStore, clock: ManualClock, engine: Engine) -> None:
    done, dead = store.enqueue("test.a"), store.enqueue("test.a")
    for job_id, finish in ((done, store.complete), (dead, None)):
        store.claim("w", KINDS, LEASE)
        if finish is not None:
            finish(job_id, "w")
        else:
            store.fail(job_id, "w", JobEvent.GIVE_UP, "x", None)
    recent = store.enqueue("test.a")
    clock.advance(3600)
    store.claim("w", KINDS, LEASE)
    store.complete(recent, "w")
    assert store.prune(clock.now() - timedelta(minutes=30)) == 1
    with engine.connect() as connection:
        left = set(connection.execute(select(jobs_table.c.id)).scalars())
    assert left == {dead, recent}


def test_concurrent_claimers_never_get_the_same_job(engine: Engine, clock: ManualClock) -> None:
    """Threads on SQLite (queued on the write lock), separate connections on PostgreSQL (SKIP
    LOCKED): every job is claimed exactly once."""
    store = SqlJobStore(engine, clock)
    total = 200
    for number in range(total):
        store.enqueue("test.a", {"n": number})
    claimed: list[tuple[str, int]] = []
    lock = threading.Lock()
    errors: list[BaseException] = []

    def claim_all(owner: str) -> None:
        try:
            while (job := store.claim(owner, KINDS, LEASE)) is not None:
                with lock:
                    claimed.append((owner, job.id))
                store.complete(job.id, owner)
        except BaseException as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=claim_all, args=(f"claimer-{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    per_job = Counter(job_id for _, job_id in claimed)
    assert len(per_job) == total and set(per_job.values()) == {1}
    with engine.connect() as connection:
        states = dict(connection.execute(
            select(jobs_table.c.state, func.count()).group_by(jobs_table.c.state)).all())
    assert states == {"done": total}


def test_statistics_count_by_kind_and_state_and_the_jobs_waiting_now(
        store: SqlJobStore, clock: ManualClock) -> None:
    assert store.statistics().due == 0 and store.statistics().oldest_due_at is None
    oldest = store.enqueue("test.a")
    clock.advance(10)
    store.enqueue("test.b")
    store.enqueue("test.a", run_at=clock.now() + timedelta(hours=1))  # not due yet
    claimed = store.enqueue("test.b", run_at=clock.now() - timedelta(seconds=1))
    assert store.claim("w", ["test.b"], LEASE).id == claimed  # type: ignore[union-attr]
    clock.advance(5)
    stats = store.statistics()
    assert stats.by_kind_and_state == {("test.a", "due"): 2, ("test.b", "due"): 1, ("test.b", "running"): 1}
    assert stats.due == 2 and stats.oldest_due_at == store.get(oldest).run_at  # type: ignore[arg-type]


def test_a_lock_is_held_while_its_job_runs_with_a_live_lease(store: SqlJobStore, clock: ManualClock) -> None:
    first, second = store.enqueue("test.a"), store.enqueue("test.a")
    assert first is not None and second is not None
    assert store.claim("w1", KINDS, LEASE).id == first  # type: ignore[union-attr]
    assert store.take_lock("harvest:oai:cs", first) is None  # taken
    assert store.take_lock("harvest:oai:cs", first) is None  # its holder may take it again
    assert store.claim("w2", KINDS, LEASE).id == second  # type: ignore[union-attr]
    assert store.take_lock("harvest:oai:cs", second) == first  # busy: the holder's id
    assert store.take_lock("harvest:hf-daily", second) is None  # another lock is free
    clock.advance(LEASE.total_seconds())  # the first worker died: its lease ran out, its lock with it
    assert store.extend_lease(second, "w2", LEASE)  # the second worker lives on
    assert store.take_lock("harvest:oai:cs", second) is None
    assert store.take_lock("harvest:oai:cs", first) == second


def test_a_lock_is_free_once_its_job_is_no_longer_running(store: SqlJobStore) -> None:
    settles = (lambda job_id: store.complete(job_id, "w"), lambda job_id: store.release(job_id, "w"),
               lambda job_id: store.fail(job_id, "w", JobEvent.FAIL, "boom", None))
    for n, settle in enumerate(settles):
        holder, taker = store.enqueue(f"test.holder{n}"), store.enqueue("test.taker")
        assert holder is not None and taker is not None
        assert store.claim("w", [f"test.holder{n}"], LEASE).id == holder  # type: ignore[union-attr]
        assert store.take_lock("lock", holder) is None and store.take_lock("lock", taker) == holder
        settle(holder)
        assert store.take_lock("lock", taker) is None


def test_two_jobs_taking_one_lock_at_once_get_it_once(engine: Engine, clock: ManualClock) -> None:
    store = SqlJobStore(engine, clock)
    job_ids = [store.enqueue("test.a") for _ in range(8)]
    for n in range(8):
        store.claim(f"w{n}", KINDS, LEASE)
    barrier, results = threading.Barrier(8), []

    def take(job_id: int) -> None:
        barrier.wait()
        results.append(store.take_lock("harvest:oai:cs", job_id))

    threads = [threading.Thread(target=take, args=(job_id,)) for job_id in job_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert results.count(None) == 1  # one took it; the seven others were told who holds it
    assert len({holder for holder in results if holder is not None}) == 1
