"""The composition root: builds every adapter and service from `Settings`, once per process."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import Engine

from papercast.clock import Clock, SystemClock
from papercast.services.catalog import CatalogService
from papercast.services.harvest import HarvestService
from papercast.services.ingest import IngestService
from papercast.settings import Settings
from papercast.sources.http import HttpPolicy, PoliteHttpClient
from papercast.storage import migrations
from papercast.storage.cursors import SqlCursorStore
from papercast.storage.engine import create_database_engine
from papercast.storage.papers import SqlPaperRepository

log = logging.getLogger("papercast.bootstrap")


@dataclass
class Papercast:
    """Everything a command, the web app or the worker needs, wired together."""

    settings: Settings
    clock: Clock
    engine: Engine
    papers: SqlPaperRepository
    cursors: SqlCursorStore
    catalog: CatalogService
    ingest: IngestService
    harvest: HarvestService

    def http_client(self) -> PoliteHttpClient:
        """A polite HTTP client for harvests, spaced and retried as the settings say."""
        s = self.settings
        return PoliteHttpClient(HttpPolicy(
            request_interval=s.harvest_request_interval, max_attempts=s.harvest_max_attempts,
            backoff_initial=s.harvest_backoff_initial, backoff_max=s.harvest_backoff_max,
            timeout=s.harvest_timeout, max_response_bytes=s.harvest_max_response_bytes,
            user_agent=s.user_agent,
        ), self.clock)

    def close(self) -> None:
        self.engine.dispose()


def build(settings: Settings, clock: Clock | None = None, *, prepare_schema: bool = True) -> Papercast:
    """Wire papercast for `settings`.

    With `prepare_schema`, an empty database gets the schema created; a database at an older
    revision is refused (`SchemaOutOfDate`) so nobody migrates production by accident.
    """
    clock = clock or SystemClock()
    engine = create_database_engine(settings.resolved_database_url)
    if prepare_schema:
        ensure_schema(engine)
    papers = SqlPaperRepository(engine, clock)
    cursors = SqlCursorStore(engine, clock)
    ingest = IngestService(papers, batch_size=settings.ingest_batch_size)
    return Papercast(
        settings=settings,
        clock=clock,
        engine=engine,
        papers=papers,
        cursors=cursors,
        catalog=CatalogService(papers),
        ingest=ingest,
        harvest=HarvestService(ingest, cursors),
    )


def ensure_schema(engine: Engine) -> None:
    """Create the schema in an empty database; refuse an out-of-date one."""
    if migrations.current_revision(engine) is None:
        log.info("db.create revision=%s", migrations.head_revision())
        migrations.upgrade(engine)
        return
    migrations.require_current(engine)
