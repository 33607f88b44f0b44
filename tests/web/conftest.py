"""Fixtures of the web tests: the small catalog of `web_corpus` on SQLite and PostgreSQL, and a
FastAPI TestClient over the real app with the real services."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from web_corpus import make_papercast

from papercast.bootstrap import Papercast
from papercast.mail.memory import MemoryMailer
from papercast.web.app import create_app
from support.clock import ManualClock


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def mailer() -> MemoryMailer:
    """Where the account and subscription tests send the outbox to read the links in it."""
    return MemoryMailer()


@pytest.fixture
def papercast(database_url: str, tmp_path: Path) -> Iterator[Papercast]:
    app = make_papercast(database_url, tmp_path)
    yield app
    app.close()


@pytest.fixture
def client(papercast: Papercast) -> Iterator[TestClient]:
    with TestClient(create_app(papercast.web_services()), follow_redirects=False) as test_client:
        yield test_client
