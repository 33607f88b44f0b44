"""Fixtures for the source parser tests: the real recorded responses under shared/data/fixtures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def fixtures(shared_data: Path) -> Path:
    return shared_data / "fixtures"


@pytest.fixture(scope="session")
def api_2026(fixtures: Path) -> Path:
    return fixtures / "arxiv-api-atom" / "lukasschwab-arxiv.py" / "2026-recorded"


@pytest.fixture(scope="session")
def api_2016(fixtures: Path) -> Path:
    return fixtures / "arxiv-api-atom" / "lukasschwab-arxiv.py" / "2016-legacy"


@pytest.fixture(scope="session")
def oai(fixtures: Path) -> Path:
    return fixtures / "arxiv-oai-pmh"


@pytest.fixture(scope="session")
def rss(fixtures: Path) -> Path:
    return fixtures / "arxiv-rss"


@pytest.fixture(scope="session")
def hf_daily_file(fixtures: Path) -> Path:
    return fixtures / "hf-daily-papers" / "lucas-m-lopes-sotawhat" / "hf_daily_papers.json"


def recorded_body(path: Path) -> bytes:
    """The raw response bytes of a recorded `{"url", "status_code", "body"}` file."""
    return json.loads(path.read_text(encoding="utf-8"))["body"].encode("latin-1")
