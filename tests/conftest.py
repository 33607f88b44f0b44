"""Shared fixtures: a fresh database per test on SQLite and, when a server is given, PostgreSQL.

Storage and functional tests take `database_url` and run once per engine. PostgreSQL tests
use `PAPERCAST_TEST_POSTGRES_URL` (set by `make test`, which starts a private cluster); each
test gets its own schema, dropped afterwards. Under CI (`CI=true`) every skip is a failure
(tests/support/ci.py): a missing server, model or browser cannot pass unnoticed there.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from support.ci import pytest_make_collect_report, pytest_runtest_makereport  # noqa: F401 - hooks

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
POSTGRES_URL = os.environ.get("PAPERCAST_TEST_POSTGRES_URL", "")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.fail(f"shared data not found at {SHARED_DATA}; the repo must sit beside shared/")
    return SHARED_DATA


def _engines() -> list[object]:
    return [pytest.param("sqlite", id="sqlite"), pytest.param("postgresql", id="postgresql",
                                                                 marks=pytest.mark.postgres)]


@contextmanager
def postgres_schema() -> Iterator[str]:
    """A URL to a fresh, empty schema on the test PostgreSQL server, dropped afterwards."""
    if not POSTGRES_URL:
        pytest.skip("no PostgreSQL server (set PAPERCAST_TEST_POSTGRES_URL or use `make test`)")
    schema = f"test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in POSTGRES_URL else "?"
    try:
        yield f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=_engines())
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL to an empty database of each engine."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'papercast.db'}"
        return
    with postgres_schema() as url:
        yield url


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """An engine on each engine's empty database with papercast's schema."""
    from papercast.bootstrap import ensure_schema
    from papercast.storage.engine import create_database_engine

    engine = create_database_engine(database_url)
    ensure_schema(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A URL to an empty PostgreSQL schema, for tests that compare the two engines side by side."""
    with postgres_schema() as url:
        yield url


@pytest.fixture
def settings_env(database_url: str, tmp_path: Path) -> dict[str, str]:
    """Environment variables that point papercast at the test database and a private data dir."""
    return {"PAPERCAST_DATABASE_URL": database_url, "PAPERCAST_DATA_DIR": str(tmp_path / "data")}
