"""Harvest cursors: where each harvest continues, stored with the pages they follow."""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import Connection, Engine, insert, select, update

from papercast.clock import Clock
from papercast.storage.engine import write_transaction
from papercast.storage.tables import harvest_cursors


class SqlCursorStore:
    def __init__(self, engine: Engine, clock: Clock) -> None:
        self._engine = engine
        self._clock = clock

    def get_cursor(self, name: str) -> dict[str, str] | None:
        with self._engine.connect() as connection:
            state = connection.execute(
                select(harvest_cursors.c.state_json).where(harvest_cursors.c.name == name)
            ).scalar_one_or_none()
        return json.loads(state) if state else None

    def set_cursor(self, name: str, state: dict[str, str]) -> None:
        """Write a cursor in a transaction of its own (one not stored with a page of papers)."""
        with write_transaction(self._engine) as connection:
            write_cursor(connection, name, state, self._clock.now())

    def clear(self, name: str) -> None:
        with self._engine.begin() as connection:
            connection.execute(harvest_cursors.delete().where(harvest_cursors.c.name == name))


def write_cursor(connection: Connection, name: str, state: dict[str, str], now: datetime) -> None:
    """Write a cursor inside the caller's transaction (the one that stored the page it follows)."""
    state_json = json.dumps(state, sort_keys=True)
    changed = connection.execute(
        update(harvest_cursors).where(harvest_cursors.c.name == name)
        .values(state_json=state_json, updated_at=now)
    ).rowcount
    if not changed:
        connection.execute(insert(harvest_cursors).values(name=name, state_json=state_json, updated_at=now))
