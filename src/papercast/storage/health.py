"""Is the database there, and is its schema the one this code needs? (`/healthz`)"""

from __future__ import annotations

import logging
from functools import cache

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from papercast.domain.errors import SchemaOutOfDate
from papercast.domain.operations import HealthStatus
from papercast.storage import migrations

log = logging.getLogger("papercast.storage.health")


@cache
def _head_revision() -> str | None:
    return migrations.head_revision()


class SqlHealthCheck:
    """The `HealthCheck` port: one read of the schema revision."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def status(self) -> HealthStatus:
        try:
            current = migrations.current_revision(self._engine)
            if current != _head_revision():
                migrations.require_current(self._engine)
        except SchemaOutOfDate as error:
            return HealthStatus("ok", "out of date", str(error))
        except SQLAlchemyError as error:
            log.warning("healthz.database_unreachable error=%s", type(error).__name__)
            return HealthStatus("unreachable", "unknown", "the database does not answer")
        return HealthStatus("ok", "current", revision=current)
