"""Schema migrations with Alembic: upgrade, current/head revisions, and drift detection."""

from __future__ import annotations

from importlib.resources import files
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from papercast.domain.errors import SchemaOutOfDate
from papercast.storage.engine import write_transaction
from papercast.storage.tables import metadata


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(files("papercast.storage") / "migrations"))
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> tuple[str | None, str | None]:
    """Migrate to `revision`; returns (before, after)."""
    before = current_revision(engine)
    config = _config()
    with write_transaction(engine) as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
    return before, current_revision(engine)


def drift(engine: Engine) -> list[Any]:
    """Differences between the tables in code and the migrated database (empty when in step)."""
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))


def require_current(engine: Engine) -> None:
    """Refuse to serve on a schema older (or newer) than this code, saying what to run."""
    current, head = current_revision(engine), head_revision()
    if current == head:
        return
    if current is None:
        raise SchemaOutOfDate("the database has no papercast schema yet; run `papercast db upgrade`")
    raise SchemaOutOfDate(
        f"the database schema is at revision {current}, this papercast needs {head}; "
        "run `papercast db upgrade`"
    )
