"""Keys an install makes for itself, kept in the database so that every process shares them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Engine, select
from sqlalchemy.dialects import postgresql, sqlite

from papercast.storage.engine import write_transaction
from papercast.storage.tables import instance_keys


def load_or_create_key(engine: Engine, name: str, make: Callable[[], str], now: datetime) -> str:
    """The key stored as `name`; the first process to ask stores `make()`, and every process,
    racing or not, reads back the one that won."""
    with write_transaction(engine) as connection:
        dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
        connection.execute(dialect.insert(instance_keys).values(name=name, secret=make(), created_at=now)
                           .on_conflict_do_nothing(index_elements=[instance_keys.c.name]))
        return str(connection.execute(select(instance_keys.c.secret)
                                      .where(instance_keys.c.name == name)).scalar_one())
