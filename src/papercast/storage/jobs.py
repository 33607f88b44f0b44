"""Jobs in the `jobs` table: enqueued (alone or inside a unit of work), claimed with a lease, settled.

A claim is one short write transaction: an UPDATE of the earliest claimable row, picked by a
subquery that PostgreSQL runs `FOR UPDATE SKIP LOCKED` (concurrent claimers take different
rows) and SQLite runs under `BEGIN IMMEDIATE` (claimers queue on the write lock). Every other
change is a conditional UPDATE whose WHERE holds the states `domain.jobs` allows for it, and,
for a worker's own reports, the lease owner: a worker that lost its job changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, Engine, and_, delete, exists, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from papercast.clock import Clock
from papercast.domain.errors import Conflict, InvalidInput, NotFound
from papercast.domain.jobs import (
    OPEN_STATES,
    Job,
    JobEvent,
    JobState,
    clip_error,
    next_state,
    states_allowing,
    validate_kind,
    validate_unique_key,
)
from papercast.domain.operations import JobStats
from papercast.storage.engine import as_utc, write_transaction
from papercast.storage.tables import job_locks, jobs

# Called after a commit that enqueued a job: wakes this process's idle worker.
EnqueueHook = Callable[[], None]


def insert_job(connection: Connection, kind: str, payload: Mapping[str, Any] | None, now: datetime, *,
               unique_key: str | None = None, run_at: datetime | None = None) -> int | None:
    """Add a due job inside the caller's transaction; the new id, or None when a job with
    `unique_key` already exists (INSERT … ON CONFLICT DO NOTHING)."""
    values = {
        "kind": validate_kind(kind), "unique_key": validate_unique_key(unique_key),
        "payload": encode_payload(kind, payload), "state": JobState.DUE.value,
        "run_at": run_at or now, "attempts": 0, "created_at": now, "updated_at": now,
    }
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    statement = (dialect.insert(jobs).values(**values)
                 .on_conflict_do_nothing(index_elements=[jobs.c.unique_key]).returning(jobs.c.id))
    job_id = connection.execute(statement).scalar_one_or_none()
    return int(job_id) if job_id is not None else None


def encode_payload(kind: str, payload: Mapping[str, Any] | None) -> str:
    """A payload as stored: a JSON object with sorted keys, so equal payloads are equal text."""
    if payload is None:
        payload = {}
    if not isinstance(payload, Mapping):
        raise InvalidInput(f"the payload of a {kind} job must be a JSON object", field="payload")
    try:
        return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError) as error:
        raise InvalidInput(f"the payload of a {kind} job is not JSON: {error}", field="payload") from error


class SqlJobStore:
    """The job store on SQLite and PostgreSQL (the `JobStore` port)."""

    def __init__(self, engine: Engine, clock: Clock, on_enqueue: EnqueueHook | None = None) -> None:
        self._engine = engine
        self._clock = clock
        self._on_enqueue = on_enqueue

    # -- enqueueing ----------------------------------------------------------------------------

    def enqueue(self, kind: str, payload: Mapping[str, Any] | None = None, *, unique_key: str | None = None,
                run_at: datetime | None = None) -> int | None:
        """Add a job in its own transaction (`insert_job`; a unit of work adds it beside a change)."""
        with write_transaction(self._engine) as connection:
            job_id = insert_job(connection, kind, payload, self._clock.now(), unique_key=unique_key,
                                run_at=run_at)
        self._enqueued(job_id)
        return job_id

    def enqueue_periodic(self, kind: str, payload: Mapping[str, Any] | None, unique_key: str,
                         run_at: datetime) -> int | None:
        """A periodic task's job for one period (`unique_key`), unless that period's job exists or a
        job of the same kind and payload is still open (due, running or failed): a period whose
        work is still going on is skipped, so the same work never runs twice at once."""
        encoded = encode_payload(kind, payload)
        with write_transaction(self._engine) as connection:
            busy = connection.execute(select(exists().where(
                jobs.c.kind == kind, jobs.c.payload == encoded, _state_in(OPEN_STATES)))).scalar_one()
            job_id = None if busy else insert_job(connection, kind, payload, self._clock.now(),
                                                  unique_key=unique_key, run_at=run_at)
        self._enqueued(job_id)
        return job_id

    def _enqueued(self, job_id: int | None) -> None:
        if job_id is not None and self._on_enqueue is not None:
            self._on_enqueue()

    # -- a worker's side -----------------------------------------------------------------------

    def next_claimable_at(self, kinds: Collection[str]) -> datetime | None:
        """When the earliest job of `kinds` becomes claimable (it may be now or past); None when
        none is waiting. One indexed read: what an idle worker polls."""
        waiting = select(func.min(jobs.c.run_at)).where(
            jobs.c.kind.in_(kinds), _state_in((JobState.DUE, JobState.FAILED)))
        leased = select(func.min(jobs.c.lease_expires_at)).where(
            jobs.c.kind.in_(kinds), jobs.c.state == JobState.RUNNING.value)
        with self._engine.connect() as connection:
            moments = [as_utc(connection.execute(query).scalar_one()) for query in (waiting, leased)]
        present = [moment for moment in moments if moment is not None]
        return min(present) if present else None

    def claim(self, owner: str, kinds: Collection[str], lease: timedelta) -> Job | None:
        """Take the earliest claimable job of `kinds` (due, failed past its retry time, or running
        with an expired lease) for `owner` until now + `lease`; None when there is none."""
        if not kinds:
            return None
        now = self._clock.now()
        candidate = (select(jobs.c.id).where(jobs.c.kind.in_(kinds), _claimable(now))
                     .order_by(jobs.c.run_at, jobs.c.id).limit(1).with_for_update(skip_locked=True))
        statement = (update(jobs).where(jobs.c.id == candidate.scalar_subquery())
                     .values(state=JobState.RUNNING.value, lease_owner=owner, lease_expires_at=now + lease,
                             attempts=jobs.c.attempts + 1, updated_at=now)
                     .returning(*jobs.c))
        with write_transaction(self._engine) as connection:
            row = connection.execute(statement).mappings().first()
        return _job(row) if row is not None else None

    def extend_lease(self, job_id: int, owner: str, lease: timedelta) -> bool:
        """Keep holding a running job until now + `lease`; False when `owner` no longer holds it."""
        now = self._clock.now()
        return self._owned_update(job_id, owner, None, lease_expires_at=now + lease, updated_at=now)

    def complete(self, job_id: int, owner: str) -> bool:
        return self._settle(job_id, owner, JobEvent.COMPLETE)

    def fail(self, job_id: int, owner: str, event: JobEvent, error: str, retry_at: datetime | None) -> bool:
        """Record a failed attempt: FAIL (due again at `retry_at`) or GIVE_UP (dead)."""
        if event not in (JobEvent.FAIL, JobEvent.GIVE_UP):
            raise ValueError(f"a failure is recorded as FAIL or GIVE_UP, not {event}")
        extra: dict[str, Any] = {"last_error": clip_error(error)}
        if retry_at is not None:
            extra["run_at"] = retry_at
        return self._settle(job_id, owner, event, **extra)

    def release(self, job_id: int, owner: str) -> bool:
        """Give a running job back unfinished (its worker is stopping): due at once, and the
        attempt it was on does not count."""
        # The claim counted the attempt (attempts >= 1 while running); this takes it back.
        return self._settle(job_id, owner, JobEvent.RELEASE, run_at=self._clock.now(),
                            attempts=jobs.c.attempts - 1)

    def continue_later(self, job_id: int, owner: str, run_at: datetime | None = None) -> bool:
        """The job did a slice of its work: due again (at once by default) for the rest."""
        return self._settle(job_id, owner, JobEvent.CONTINUE, run_at=run_at or self._clock.now(),
                            attempts=0, last_error=None)

    def _settle(self, job_id: int, owner: str, event: JobEvent, **values: Any) -> bool:
        return self._owned_update(job_id, owner, event, state=next_state(JobState.RUNNING, event).value,
                                  lease_owner=None, lease_expires_at=None, updated_at=self._clock.now(),
                                  **values)

    def _owned_update(self, job_id: int, owner: str, event: JobEvent | None, **values: Any) -> bool:
        allowed = states_allowing(event) if event is not None else {JobState.RUNNING}
        with write_transaction(self._engine) as connection:
            changed = connection.execute(
                update(jobs).where(jobs.c.id == job_id, jobs.c.lease_owner == owner, _state_in(allowed))
                .values(**values)).rowcount
        return bool(changed)

    def take_lock(self, name: str, job_id: int) -> int | None:
        """Hold the lock `name` for the running job `job_id`; None when it now does, else the id of
        the running job that holds it. A lock needs no release: it is free once its job is no
        longer running with a live lease (done, failed, released, or its worker died)."""
        now = self._clock.now()
        dialect = postgresql if self._engine.dialect.name == "postgresql" else sqlite
        with write_transaction(self._engine) as connection:
            taken = connection.execute(
                dialect.insert(job_locks).values(name=name, job_id=job_id, taken_at=now)
                .on_conflict_do_nothing().returning(job_locks.c.name)).scalar_one_or_none()
            if taken is not None:
                return None
            # The row lock makes two takers of one lock on PostgreSQL queue here (SQLite: BEGIN IMMEDIATE).
            holder = int(connection.execute(
                select(job_locks.c.job_id).where(job_locks.c.name == name).with_for_update()).scalar_one())
            if holder != job_id and connection.execute(select(exists().where(
                    jobs.c.id == holder, jobs.c.state == JobState.RUNNING.value,
                    jobs.c.lease_expires_at > now))).scalar_one():
                return holder
            connection.execute(update(job_locks).where(job_locks.c.name == name)
                               .values(job_id=job_id, taken_at=now))
        return None

    # -- an operator's side --------------------------------------------------------------------

    def get(self, job_id: int) -> Job:
        with self._engine.connect() as connection:
            row = connection.execute(select(jobs).where(jobs.c.id == job_id)).mappings().first()
        if row is None:
            raise NotFound(f"no job {job_id}")
        return _job(row)

    def list(self, *, states: Collection[JobState] = (), kinds: Collection[str] = (),
             limit: int = 50) -> list[Job]:
        """Jobs newest first, narrowed to `states` and `kinds` when given."""
        query = select(jobs).order_by(jobs.c.id.desc()).limit(limit)
        if states:
            query = query.where(_state_in(states))
        if kinds:
            query = query.where(jobs.c.kind.in_(kinds))
        with self._engine.connect() as connection:
            return [_job(row) for row in connection.execute(query).mappings()]

    def counts(self) -> dict[tuple[str, JobState], int]:
        """How many jobs of each kind are in each state (the (kind, state) index answers it)."""
        query = select(jobs.c.kind, jobs.c.state, func.count()).group_by(jobs.c.kind, jobs.c.state)
        with self._engine.connect() as connection:
            return {(kind, JobState(state)): int(count) for kind, state, count in connection.execute(query)}

    def statistics(self) -> JobStats:
        """Jobs per kind and state, and the jobs waiting for a worker now (due, or failed and past
        their retry time): how many, and the earliest run-at among them. Two indexed reads."""
        waiting = select(func.count(), func.min(jobs.c.run_at)).where(
            _state_in((JobState.DUE, JobState.FAILED)), jobs.c.run_at <= self._clock.now())
        with self._engine.connect() as connection:
            due, oldest = connection.execute(waiting).one()
        counts = {(kind, str(state)): count for (kind, state), count in self.counts().items()}
        return JobStats(counts, int(due), as_utc(oldest))

    def retry(self, job_id: int) -> Job:
        """Make a failed or dead job due now, with fresh attempts."""
        return self._operate(job_id, JobEvent.RETRY, attempts=0, run_at=self._clock.now())

    def cancel(self, job_id: int) -> Job:
        """End a job that has not finished; it is kept as dead. A worker running it can no longer
        report on it (its work so far is not undone)."""
        return self._operate(job_id, JobEvent.CANCEL, last_error="cancelled by an operator")

    def _operate(self, job_id: int, event: JobEvent, **values: Any) -> Job:
        job = self.get(job_id)
        state = next_state(job.state, event)  # IllegalTransition (a Conflict) names the state
        now = self._clock.now()
        with write_transaction(self._engine) as connection:
            changed = connection.execute(
                update(jobs).where(jobs.c.id == job_id, jobs.c.state == job.state.value)
                .values(state=state.value, lease_owner=None, lease_expires_at=None, updated_at=now, **values)
            ).rowcount
        if not changed:
            raise Conflict(f"job {job_id} changed while being updated; look at it again")
        if state is JobState.DUE:
            self._enqueued(job_id)
        return self.get(job_id)

    def prune(self, finished_before: datetime) -> int:
        """Delete done jobs last changed before `finished_before`; dead ones stay for an operator."""
        with write_transaction(self._engine) as connection:
            return int(connection.execute(delete(jobs).where(
                jobs.c.state == JobState.DONE.value, jobs.c.updated_at < finished_before)).rowcount)


def _state_in(states: Collection[JobState]) -> ColumnElement[bool]:
    return jobs.c.state.in_(sorted(state.value for state in states))


def _claimable(now: datetime) -> ColumnElement[bool]:
    waiting = and_(_state_in(states_allowing(JobEvent.CLAIM) - {JobState.RUNNING}), jobs.c.run_at <= now)
    abandoned = and_(jobs.c.state == JobState.RUNNING.value, jobs.c.lease_expires_at <= now)
    return or_(waiting, abandoned)


def _job(row: Any) -> Job:
    """A job from its row (a RowMapping)."""
    run_at = as_utc(row["run_at"])
    assert run_at is not None  # NOT NULL
    return Job(
        id=int(row["id"]), kind=row["kind"], payload=json.loads(row["payload"]), state=JobState(row["state"]),
        run_at=run_at, attempts=int(row["attempts"]), unique_key=row["unique_key"],
        lease_owner=row["lease_owner"], lease_expires_at=as_utc(row["lease_expires_at"]),
        last_error=row["last_error"], created_at=as_utc(row["created_at"]),
        updated_at=as_utc(row["updated_at"]),
    )
