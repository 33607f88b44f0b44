"""Turns at a remote host, shared through the database by every process and machine: one request
at a time, and the next one starts at least a spacing after the last one started.

A client takes the turn in a short write transaction (the host's row locked on PostgreSQL,
`BEGIN IMMEDIATE` on SQLite) and holds it while its request runs; a holder that dies mid-request
frees it when its hold runs out. Ending the turn sets when the next request may start.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, select, update
from sqlalchemy.dialects import postgresql, sqlite

from papercast.clock import Clock
from papercast.storage.engine import as_utc, write_transaction
from papercast.storage.tables import request_turns

_LONG_AGO = datetime(1970, 1, 1, tzinfo=UTC)


class SqlRequestTurns:
    """The `RequestTurns` port on SQLite and PostgreSQL."""

    def __init__(self, engine: Engine, clock: Clock) -> None:
        self._engine = engine
        self._clock = clock

    def take(self, host: str, holder: str, hold: timedelta) -> float:
        """Take the turn at `host` for `holder` for at most `hold`: 0.0 when taken, else the
        seconds until it may be free (another request runs, or the spacing has not passed)."""
        now = self._clock.now()
        dialect = postgresql if self._engine.dialect.name == "postgresql" else sqlite
        with write_transaction(self._engine) as connection:
            connection.execute(dialect.insert(request_turns)
                               .values(host=host, holder=None, free_at=_LONG_AGO, updated_at=now)
                               .on_conflict_do_nothing())
            free_at = as_utc(connection.execute(
                select(request_turns.c.free_at).where(request_turns.c.host == host).with_for_update()
            ).scalar_one())
            assert free_at is not None  # NOT NULL
            if free_at > now:
                return (free_at - now).total_seconds()
            connection.execute(update(request_turns).where(request_turns.c.host == host)
                               .values(holder=holder, free_at=now + hold, updated_at=now))
        return 0.0

    def end(self, host: str, holder: str, spacing: timedelta, started: datetime) -> None:
        """End `holder`'s turn: the next request may start `spacing` after this one `started`, and
        not before now. Nothing changes when the turn has passed to another holder."""
        now = self._clock.now()
        with write_transaction(self._engine) as connection:
            connection.execute(
                update(request_turns).where(request_turns.c.host == host, request_turns.c.holder == holder)
                .values(holder=None, free_at=max(started + spacing, now), updated_at=now))
