"""mypy strict over all of src: the gate `make lint` runs, kept by the test suite so CI holds it.

The harvest sources are only ever used through the `PagedSource` port; a snippet checked with
the sources pins that they satisfy it, whatever the callers' annotations say.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
HARVEST_SOURCES_ARE_PAGED_SOURCES = '''
from papercast.ports import PagedSource
from papercast.sources.remote import ArxivApiHarvest, HfDailyHarvest, OaiHarvest


def as_paged_source(source: OaiHarvest | ArxivApiHarvest | HfDailyHarvest) -> PagedSource:
    return source
'''


def test_mypy_strict_covers_all_of_src_and_passes(tmp_path: Path) -> None:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["mypy"]
    assert config["strict"] is True
    assert config["files"] == ["src/papercast"], "mypy must check every module, not a chosen few"
    conformance = tmp_path / "harvest_sources_are_paged_sources.py"
    conformance.write_text(HARVEST_SOURCES_ARE_PAGED_SOURCES)

    result = subprocess.run([sys.executable, "-m", "mypy", *config["files"], str(conformance)],
                            cwd=REPO, capture_output=True, text=True, timeout=600, check=False)

    assert result.returncode == 0, result.stdout + result.stderr
