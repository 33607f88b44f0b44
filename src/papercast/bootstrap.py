"""The composition root: builds every adapter and service from `Settings`, once per process."""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from papercast.clock import Clock, SystemClock
from papercast.ports import Embedder, Mailer
from papercast.services.catalog import CatalogService
from papercast.services.embedding import EmbeddingService
from papercast.services.harvest import HarvestService
from papercast.services.ingest import IngestService
from papercast.services.listings import ListingService
from papercast.settings import Settings
from papercast.sources.http import HttpPolicy, PoliteHttpClient
from papercast.sources.read_ahead import ProcessReadAhead
from papercast.storage import migrations
from papercast.storage.cursors import SqlCursorStore
from papercast.storage.engine import create_database_engine
from papercast.storage.jobs import SqlJobStore
from papercast.storage.listings import SqlListingQueries
from papercast.storage.papers import SqlPaperRepository
from papercast.storage.unit_of_work import SqlUnitOfWork

if TYPE_CHECKING:
    from papercast.index.follower import IndexFollower
    from papercast.mail.queue import TemplatedMailQueue
    from papercast.services.mail import OutboxSender
    from papercast.services.search import SearchService, SearchTuning
    from papercast.storage.embeddings import SqlEmbeddingStore
    from papercast.storage.outbox import SqlMailOutbox

log = logging.getLogger("papercast.bootstrap")


@dataclass
class Papercast:
    """Everything a command, the web app or the worker needs, wired together."""

    settings: Settings
    clock: Clock
    engine: Engine
    papers: SqlPaperRepository
    cursors: SqlCursorStore
    units: SqlUnitOfWork
    jobs: SqlJobStore
    # Set after a commit that enqueued a job: wakes this process's idle worker.
    job_enqueued: threading.Event
    catalog: CatalogService
    ingest: IngestService
    harvest: HarvestService
    listings: ListingService
    _embedder: Embedder | None = field(default=None, init=False, repr=False)
    _embedder_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _follower: IndexFollower | None = field(default=None, init=False, repr=False)

    def http_client(self) -> PoliteHttpClient:
        """A polite HTTP client for harvests, spaced and retried as the settings say."""
        s = self.settings
        return PoliteHttpClient(HttpPolicy(
            request_interval=s.harvest_request_interval, max_attempts=s.harvest_max_attempts,
            backoff_initial=s.harvest_backoff_initial, backoff_max=s.harvest_backoff_max,
            timeout=s.harvest_timeout, max_response_bytes=s.harvest_max_response_bytes,
            user_agent=s.user_agent,
        ), self.clock)

    def embedding_store(self) -> SqlEmbeddingStore:
        # Imported here: numpy (and any encoder) loads only in processes that use embeddings.
        from papercast.storage.embeddings import SqlEmbeddingStore

        return SqlEmbeddingStore(self.engine, self.clock)

    def embedder(self) -> Embedder:
        """The encoder the settings name, loaded on first use (a model takes seconds to load)."""
        with self._embedder_lock:
            if self._embedder is None:
                self._embedder = self.load_embedder(self.settings.embedding_model)
            return self._embedder

    def load_embedder(self, model: str) -> Embedder:
        """A new encoder named `model` (`minilm`, `tfidf`, `hashing`); TF-IDF fits on the catalog."""
        from papercast.embeddings.factory import load_embedder

        settings = replace(self.settings, embedding_model=model)
        return load_embedder(settings, self.embedding_store().iter_paper_texts)

    def embedding_service(self, model: str | None = None) -> EmbeddingService:
        """Embedding catch-up with the configured encoder, or with `model` when given."""
        same = model is None or model == self.settings.embedding_model
        embedder = self.embedder() if same else self.load_embedder(model or "")
        return EmbeddingService(self.embedding_store(), embedder, self.clock)

    def embedding_model_id(self) -> str | None:
        """The configured encoder's model id, without loading the model."""
        from papercast.embeddings.factory import configured_model_id

        return configured_model_id(self.settings)

    def index_follower(self) -> IndexFollower:
        """This process's search indexes under `<data_dir>/index`, following the database."""
        with self._embedder_lock:
            if self._follower is None:
                from papercast.index.follower import IndexFollower

                self._follower = IndexFollower(
                    self.settings.data_dir / "index", self.papers, self.embedding_store(),
                    self.embedding_model_id(), self.clock, exact_max=self.settings.vector_exact_max)
            return self._follower

    def search_service(self, *, semantic: bool = True, tuning: SearchTuning | None = None) -> SearchService:
        """Search over the followed indexes; without `semantic`, keyword-only (no model is loaded)."""
        from papercast.index.follower import LiveKeywordIndex, LiveVectorIndex
        from papercast.services.search import SearchService

        follower = self.index_follower()
        embedder = self.embedder() if semantic else None
        return SearchService(LiveKeywordIndex(follower), LiveVectorIndex(follower) if semantic else None,
                             embedder, self.papers, tuning)

    def mail_outbox(self) -> SqlMailOutbox:
        from papercast.storage.outbox import SqlMailOutbox

        return SqlMailOutbox(self.engine)

    def mail_queue(self) -> TemplatedMailQueue:
        """Queues templated mail in a caller's transaction; From and base URL from the settings."""
        from papercast.mail.queue import TemplatedMailQueue
        from papercast.mail.render import MailRenderer

        s = self.settings
        return TemplatedMailQueue(self.engine, MailRenderer(s.base_url), self.clock,
                                  mail_from=s.mail_from, base_url=s.base_url)

    def mailer(self) -> Mailer:
        """SMTP when PAPERCAST_SMTP_HOST is set; otherwise `.eml` files under `<data_dir>/mail/`."""
        s = self.settings
        if not s.smtp_host:
            from papercast.mail.files import FileMailer

            return FileMailer(s.data_dir / "mail")
        from papercast.mail.smtp import SmtpConfig, SmtpMailer

        return SmtpMailer(SmtpConfig(host=s.smtp_host, port=s.smtp_port, security=s.smtp_security,
                                     user=s.smtp_user, password=s.smtp_password, timeout=s.smtp_timeout))

    def outbox_sender(self, mailer: Mailer | None = None) -> OutboxSender:
        """Sends the outbox (what the worker runs), as an owner unique to this process."""
        from papercast.domain.mail import RetryPolicy
        from papercast.services.mail import OutboxSender

        s = self.settings
        policy = RetryPolicy(max_attempts=s.mail_max_attempts, initial_delay=s.mail_retry_initial,
                             max_delay=s.mail_retry_max)
        owner = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        return OutboxSender(self.mail_outbox(), mailer or self.mailer(), self.clock, policy, owner=owner,
                            lease=timedelta(seconds=s.mail_lease_seconds))

    def close(self) -> None:
        if self._follower is not None:
            self._follower.close()
        self.engine.dispose()


def build(settings: Settings, clock: Clock | None = None, *, prepare_schema: bool = True) -> Papercast:
    """Wire papercast for `settings`.

    With `prepare_schema`, an empty database gets the schema created; a database at an older
    revision is refused (`SchemaOutOfDate`) so nobody migrates production by accident.
    """
    clock = clock or SystemClock()
    engine = database_engine(settings)
    if prepare_schema:
        ensure_schema(engine)
    papers = SqlPaperRepository(engine, clock)
    cursors = SqlCursorStore(engine, clock)
    job_enqueued = threading.Event()
    units = SqlUnitOfWork(engine, clock, on_enqueue=job_enqueued.set)
    ingest = IngestService(units, batch_size=settings.ingest_batch_size,
                           read_ahead=ProcessReadAhead(settings.ingest_read_ahead_mb * 2**20))
    return Papercast(
        settings=settings,
        clock=clock,
        engine=engine,
        papers=papers,
        cursors=cursors,
        units=units,
        jobs=SqlJobStore(engine, clock, on_enqueue=job_enqueued.set),
        job_enqueued=job_enqueued,
        catalog=CatalogService(papers),
        ingest=ingest,
        harvest=HarvestService(ingest, cursors),
        listings=ListingService(SqlListingQueries(engine)),
    )


def database_engine(settings: Settings) -> Engine:
    """The settings' database, opened: an explicit URL as given; the default SQLite file with
    the data directory created when missing (a fresh clone's `make run` relies on that)."""
    if settings.database_url:
        return create_database_engine(settings.database_url)
    return create_database_engine(settings.resolved_database_url, setting="PAPERCAST_DATA_DIR",
                                  create_directory=True)


def ensure_schema(engine: Engine) -> None:
    """Create the schema in an empty database; refuse an out-of-date one."""
    if migrations.current_revision(engine) is None:
        log.info("db.create revision=%s", migrations.head_revision())
        migrations.upgrade(engine)
        return
    migrations.require_current(engine)
