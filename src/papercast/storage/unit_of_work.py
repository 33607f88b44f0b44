"""A unit of work: one write transaction across stores, so a change and the jobs (or mail) it
causes commit together or not at all.

`SqlUnitOfWork.begin()` opens a write transaction (`BEGIN IMMEDIATE` on SQLite) and yields a
`SqlTransaction` whose parts write on its one connection: `papers` (the paper write batch, which
takes the change counter's lock on first use) and `jobs` (enqueue). Other stores join through
`connection`: their functions take a SQLAlchemy `Connection` (the mail outbox's
`storage/mail_outbox.py` does). Leaving the block commits; an exception rolls everything back.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine

from papercast.clock import Clock
from papercast.storage.engine import write_transaction
from papercast.storage.jobs import EnqueueHook, insert_job
from papercast.storage.papers import PaperWriteBatch


class TransactionJobs:
    """Enqueues jobs inside a unit of work's transaction."""

    def __init__(self, connection: Connection, now: datetime) -> None:
        self._connection = connection
        self._now = now
        self.enqueued = 0

    def enqueue(self, kind: str, payload: Mapping[str, Any] | None = None, *, unique_key: str | None = None,
                run_at: datetime | None = None) -> int | None:
        """Add a due job (at `run_at`, by default now); None when `unique_key` is already taken."""
        job_id = insert_job(self._connection, kind, payload, self._now, unique_key=unique_key, run_at=run_at)
        self.enqueued += job_id is not None
        return job_id


class SqlTransaction:
    """The parts of one unit of work, all on `connection`; `now` is its one write time."""

    def __init__(self, connection: Connection, now: datetime) -> None:
        self.connection = connection
        self.now = now
        self.jobs = TransactionJobs(connection, now)
        self._papers: PaperWriteBatch | None = None

    @property
    def papers(self) -> PaperWriteBatch:
        """Paper reads and writes. The first use locks the paper change counter: use it before
        enqueueing, so that paper writers always take their locks in the same order."""
        if self._papers is None:
            self._papers = PaperWriteBatch.begin(self.connection, self.now)
        return self._papers


class SqlUnitOfWork:
    """Opens units of work on one database (the `UnitOfWork` port)."""

    def __init__(self, engine: Engine, clock: Clock, on_enqueue: EnqueueHook | None = None) -> None:
        self._engine = engine
        self._clock = clock
        self._on_enqueue = on_enqueue

    @contextmanager
    def begin(self) -> Iterator[SqlTransaction]:
        with write_transaction(self._engine) as connection:
            transaction = SqlTransaction(connection, self._clock.now())
            yield transaction
        # After the commit: a worker woken earlier would not see the jobs yet.
        if transaction.jobs.enqueued and self._on_enqueue is not None:
            self._on_enqueue()
