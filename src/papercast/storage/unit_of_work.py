"""A unit of work: one write transaction across stores, so a change and the jobs (or mail) it
causes commit together or not at all.

`SqlUnitOfWork.begin()` opens a write transaction (`BEGIN IMMEDIATE` on SQLite) and yields a
`SqlTransaction` whose parts write on its one connection: `papers` (the paper write batch, which
takes the change counter's lock on first use), `jobs` (enqueue), `mail` (queue a message in
the outbox), `accounts` (users, sessions, tokens, single-use links), `subscribers` (digest
subscriptions), `votes` (upvotes, saves and the popularity they make) and `recommendations`
(readers' signals and refit jobs).
Other stores join through `connection`: their functions take a SQLAlchemy `Connection`.
Leaving the block commits; an exception rolls everything back.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine

from papercast.clock import Clock
from papercast.domain.mail import MailRequest, QueuedMail
from papercast.domain.trending import TrendingParameters
from papercast.ports import MailQueue
from papercast.storage.accounts import SqlAccountRecords
from papercast.storage.engine import write_transaction
from papercast.storage.jobs import EnqueueHook, insert_job
from papercast.storage.outbox import delete_mail_to, expire_queued_mail
from papercast.storage.papers import PaperWriteBatch
from papercast.storage.popularity import advance_vote_sequence
from papercast.storage.recommendations import RecommendationWrites
from papercast.storage.subscribers import SqlSubscriberRecords
from papercast.storage.votes import VoteRecords


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


class TransactionMail:
    """Queues mail inside a unit of work's transaction: rendered and checked at once, sent by the
    worker after the commit, never if the unit rolls back. Cancels and forgets mail likewise."""

    def __init__(self, connection: Connection, queue: Callable[[], MailQueue] | None, now: datetime) -> None:
        self._connection = connection
        self._queue = queue
        self._now = now
        self.enqueued = 0

    def enqueue(self, request: MailRequest) -> QueuedMail | None:
        """Queue `request`; None when its idempotency key is queued already."""
        if self._queue is None:
            raise RuntimeError("this unit of work was built without a mail queue")
        queued = self._queue().enqueue(self._connection, request)
        self.enqueued += queued is not None
        return queued

    def cancel(self, address: str, kinds: Collection[str], reason: str) -> int:
        """Retire the queued (not yet sending) messages of `kinds` to `address`; how many."""
        return expire_queued_mail(self._connection, address, kinds, self._now, reason)

    def forget_recipient(self, address: str) -> int:
        """Delete every message to `address`, sent or not; how many."""
        return delete_mail_to(self._connection, address)


class SqlTransaction:
    """The parts of one unit of work, all on `connection`; `now` is its one write time."""

    def __init__(self, connection: Connection, now: datetime,
                 mail_queue: Callable[[], MailQueue] | None = None,
                 trending: TrendingParameters | None = None, refit_delay_seconds: int = 30) -> None:
        self.connection = connection
        self.now = now
        self.jobs = TransactionJobs(connection, now)
        self.accounts = SqlAccountRecords(connection)
        self.subscribers = SqlSubscriberRecords(connection)
        self._trending = trending or TrendingParameters()
        self.votes = VoteRecords(connection, self._trending)
        self.recommendations = RecommendationWrites(connection, now, refit_delay_seconds)
        self._papers: PaperWriteBatch | None = None
        self._mail_queue = mail_queue
        self._mail: TransactionMail | None = None

    @property
    def mail(self) -> TransactionMail:
        """Mail to send once this unit commits (the outbox, `mail/queue.py`); the queue (its
        templates) is built at the first message queued."""
        if self._mail is None:
            self._mail = TransactionMail(self.connection, self._mail_queue, self.now)
        return self._mail

    @property
    def queued_work(self) -> bool:
        """Whether it enqueued a job or a mail: a worker has something to do after the commit."""
        return bool(self.jobs.enqueued or (self._mail is not None and self._mail.enqueued))

    @property
    def papers(self) -> PaperWriteBatch:
        """Paper reads and writes. The first use locks the paper change counter: use it before
        enqueueing, so that paper writers always take their locks in the same order."""
        if self._papers is None:
            self._papers = PaperWriteBatch.begin(self.connection, self.now, self._trending)
        return self._papers


class SqlUnitOfWork:
    """Opens units of work on one database (the `UnitOfWork` port)."""

    def __init__(self, engine: Engine, clock: Clock, on_enqueue: EnqueueHook | None = None, *,
                 mail_queue: Callable[[], MailQueue] | None = None,
                 trending: TrendingParameters | None = None, refit_delay_seconds: int = 30) -> None:
        self._engine = engine
        self._refit_delay = refit_delay_seconds
        self._clock = clock
        self._on_enqueue = on_enqueue
        self._mail_queue = mail_queue  # built on first use: templates load only where mail is queued
        self._trending = trending

    @contextmanager
    def begin(self) -> Iterator[SqlTransaction]:
        with write_transaction(self._engine) as connection:
            transaction = SqlTransaction(connection, self._clock.now(), self._mail_queue, self._trending,
                                         self._refit_delay)
            yield transaction
        # After the commit: a worker woken earlier would not see the jobs or mail yet, and a cache
        # that saw the vote sequence move before the vote committed could keep a page without it.
        if transaction.queued_work and self._on_enqueue is not None:
            self._on_enqueue()
        if transaction.votes.popularity.moved:
            advance_vote_sequence(self._engine)
