"""The few interfaces services depend on; adapters implement them."""

from __future__ import annotations

from collections.abc import Collection, Generator, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import Any, Protocol

from papercast.domain.ingest import SourceItem, ValidatedBatch
from papercast.domain.jobs import Job, JobEvent, JobState
from papercast.domain.mail import Claim, Envelope, MailRequest, QueuedMail, Receipt, Settlement
from papercast.domain.papers import Outcome, Paper


class PaperSource(Protocol):
    """One input format: yields records and the rejections it found while parsing.

    `name` is what papers remember as their source (`arxiv-oai`, `hf-daily`, ...).
    """

    name: str

    def items(self) -> Iterator[SourceItem]: ...


class ReadAhead(Protocol):
    """Reads and validates a source's batches elsewhere (another process) while the caller writes.

    `batches` answers None when reading ahead is not worth it for this source (a small file,
    one core, not a file); the caller then reads the source itself. The iterator yields the
    batches in input order, raises what reading the source raised, and must be closed.
    """

    def batches(self, source: PaperSource,
                batch_size: int) -> Generator[ValidatedBatch, None, None] | None: ...


class CursorStore(Protocol):
    """Named harvest cursors (where the next run continues), written with the pages they follow."""

    def get_cursor(self, name: str) -> dict[str, str] | None: ...


class HarvestPage(Protocol):
    """One fetched page of a paged remote source (read-only here: a page may keep a list or a tuple)."""

    @property
    def items(self) -> Sequence[SourceItem]: ...

    @property
    def next_state(self) -> dict[str, str]: ...

    @property
    def done(self) -> bool: ...

    @property
    def description(self) -> str: ...


class PagedSource(Protocol):
    """A remote source read page by page; `state` is what a cursor stores between pages."""

    name: str

    def cursor_name(self) -> str: ...

    def initial_state(self) -> dict[str, str]: ...

    def resume_state(self, stored: dict[str, str]) -> dict[str, str]: ...

    def fetch(self, state: dict[str, str]) -> HarvestPage: ...


class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors (a numpy array of shape (n, dimension)).

    `model_id` names the model and its version; it is stored with every vector, so a model
    change is seen and triggers a clean re-embed.
    """

    model_id: str
    dimension: int

    def embed_documents(self, texts: Sequence[str]) -> Any: ...

    def embed_query(self, text: str) -> Any: ...


class PaperWrites(Protocol):
    """Paper reads and writes inside a unit of work's transaction."""

    def get_many(self, paper_ids: Sequence[str]) -> dict[str, Paper]: ...

    def save(self, changes: Sequence[tuple[Outcome, Paper]]) -> int: ...

    def set_cursor(self, name: str, state: dict[str, str]) -> None: ...


class JobWriter(Protocol):
    """Enqueues jobs; inside a unit of work they commit with the change that caused them.

    A second enqueue under a `unique_key` that is taken adds nothing and answers None.
    """

    def enqueue(self, kind: str, payload: Mapping[str, Any] | None = None, *, unique_key: str | None = None,
                run_at: datetime | None = None) -> int | None: ...


class Transaction(Protocol):
    """One unit of work's stores, all writing in the same transaction."""

    @property
    def papers(self) -> PaperWrites: ...

    @property
    def jobs(self) -> JobWriter: ...


class UnitOfWork(Protocol):
    """Opens a transaction across stores: leaving the block commits it, an exception rolls it back."""

    def begin(self) -> AbstractContextManager[Transaction]: ...


class JobStore(JobWriter, Protocol):
    """Stored jobs: what workers claim and settle, and operators list, retry and cancel.

    A worker's reports (`complete`, `fail`, ...) change nothing and answer False when `owner` no
    longer holds the job (its lease expired and another worker took it, or it was cancelled).
    """

    def enqueue_periodic(self, kind: str, payload: Mapping[str, Any] | None, unique_key: str,
                         run_at: datetime) -> int | None: ...

    def next_claimable_at(self, kinds: Collection[str]) -> datetime | None: ...

    def claim(self, owner: str, kinds: Collection[str], lease: timedelta) -> Job | None: ...

    def extend_lease(self, job_id: int, owner: str, lease: timedelta) -> bool: ...

    def complete(self, job_id: int, owner: str) -> bool: ...

    def fail(self, job_id: int, owner: str, event: JobEvent, error: str,
             retry_at: datetime | None) -> bool: ...

    def release(self, job_id: int, owner: str) -> bool: ...

    def continue_later(self, job_id: int, owner: str, run_at: datetime | None = None) -> bool: ...

    def get(self, job_id: int) -> Job: ...

    def list(self, *, states: Collection[JobState] = (), kinds: Collection[str] = (),
             limit: int = 50) -> list[Job]: ...

    def retry(self, job_id: int) -> Job: ...

    def cancel(self, job_id: int) -> Job: ...

    def prune(self, finished_before: datetime) -> int: ...


class MailSession(Protocol):
    """One connection to a mail system, reused for a run of messages.

    `deliver` answers the server's acceptance or raises `DeliveryFailed` saying what the failure
    means for the message (temporary, permanent, unknown outcome, server unreachable).
    """

    def deliver(self, envelope: Envelope) -> Receipt: ...

    def close(self) -> None: ...


class Mailer(Protocol):
    """Delivers mail: through an SMTP server, into `.eml` files, or into memory (tests)."""

    def session(self) -> MailSession: ...


class OutboxStore(Protocol):
    """The mail outbox as a sender sees it: claim due messages with a lease, settle each attempt."""

    def claim_due(self, owner: str, now: datetime, lease_until: datetime, *, max_attempts: int,
                  limit: int = 1) -> Claim: ...

    def settle(self, outbox_id: int, owner: str, now: datetime, settlement: Settlement) -> bool: ...


class MailQueue(Protocol):
    """Renders and queues mail inside the caller's transaction (`connection`, a SQLAlchemy Connection),
    so the message commits with the change that causes it, or not at all."""

    def enqueue(self, connection: Any, request: MailRequest) -> QueuedMail | None: ...
