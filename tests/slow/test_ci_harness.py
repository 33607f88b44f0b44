"""The test and benchmark harness itself: the private PostgreSQL script and the synthetic corpus.

`make test` trusts scripts/test-postgres to start, reuse and stop a cluster, and the ingest
benchmark trusts bench/synthetic.py to produce valid, unique, reproducible snapshot records.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from email.utils import parsedate_to_datetime
from pathlib import Path
from types import ModuleType

import pytest
from sqlalchemy import create_engine, text

from papercast.bootstrap import build
from papercast.settings import Settings
from papercast.sources.detect import detect_format, open_source

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
TEST_POSTGRES = REPO / "scripts" / "test-postgres"


@pytest.fixture(scope="module")
def synthetic(shared_data: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_synthetic", REPO / "bench" / "synthetic.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up while being defined
    spec.loader.exec_module(module)
    return module


def test_synthetic_records_are_reproducible_unique_and_well_formed(synthetic: ModuleType) -> None:
    records = list(synthetic.generate(3000, seed=11))

    assert records == list(synthetic.generate(3000, seed=11))
    assert records[:20] != list(synthetic.generate(20, seed=12))
    ids = [r["id"] for r in records]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"\d{2}(0[1-9]|1[0-2])\.\d{5}", i) for i in ids)
    for record in records:
        assert 6 <= len(record["title"].split()) <= 15
        assert 100 <= len(record["abstract"].split()) <= 252
        assert 1 <= len(record["authors_parsed"]) <= 12
        categories = record["categories"].split()
        assert categories and len(set(categories)) == len(categories)
        created = [parsedate_to_datetime(v["created"]) for v in record["versions"]]
        assert 1 <= len(created) <= 5
        assert created == sorted(created) and len(set(created)) == len(created)
        assert record["update_date"] == created[-1].date().isoformat()


def test_synthetic_corpus_ingests_then_reingests_unchanged(
    synthetic: ModuleType, database_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "synthetic.jsonl.gz"
    assert synthetic.write(synthetic.generate(400, seed=3), path) == 400
    assert detect_format(path) == "snapshot"
    app = build(Settings.load(env={}, data_dir=tmp_path, database_url=database_url))
    try:
        source = open_source(path, "snapshot")
        first = app.ingest.ingest(source.items(), source.name)
        second = app.ingest.ingest(open_source(path, "snapshot").items(), source.name)
        stats = app.catalog.stats()
    finally:
        app.close()

    assert (first.new, first.updated, first.rejected) == (400, 0, 0), first.rejections[:3]
    assert (second.new, second.updated, second.unchanged, second.rejected) == (0, 0, 400, 0)
    assert stats.papers == 400


# --- scripts/test-postgres ---------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def cluster_env() -> Iterator[dict[str, str]]:
    """A cluster directory and port of this test's own, removed afterwards."""
    bindir = subprocess.run([str(TEST_POSTGRES), "bindir"], capture_output=True, text=True)
    if bindir.returncode != 0:
        if os.environ.get("CI"):
            pytest.fail("CI must have PostgreSQL server binaries: " + bindir.stderr)
        pytest.skip("no PostgreSQL server binaries")
    # Not under pytest's tmp_path: as root the server runs as `postgres`, which must reach it.
    root = Path("/var/tmp") / f"papercast-harness-{uuid.uuid4().hex[:10]}"
    env = {**os.environ, "PAPERCAST_TEST_PG_DIR": str(root), "PAPERCAST_TEST_PG_PORT": str(_free_port())}
    try:
        yield env
    finally:
        subprocess.run([str(TEST_POSTGRES), "stop"], env=env, capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def _script(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(TEST_POSTGRES), *args], env=env, capture_output=True, text=True, timeout=180)


def _server_version(url: str) -> str:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return str(connection.execute(text("SHOW server_version")).scalar_one())
    finally:
        engine.dispose()


def _postmaster_pid(env: dict[str, str]) -> str:
    return (Path(env["PAPERCAST_TEST_PG_DIR"]) / "data" / "postmaster.pid").read_text().split()[0]


def _accepts_connections(port: str) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", int(port))) == 0


def test_test_postgres_starts_reuses_stops_and_replaces_a_stale_cluster(cluster_env: dict[str, str]) -> None:
    port = cluster_env["PAPERCAST_TEST_PG_PORT"]
    expected_url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/papercast_test"

    started = _script(cluster_env, "start")
    assert started.returncode == 0, started.stderr
    assert started.stdout.strip() == expected_url
    assert _server_version(expected_url)
    pid = _postmaster_pid(cluster_env)

    again = _script(cluster_env, "start")
    assert (again.returncode, again.stdout.strip()) == (0, expected_url), again.stderr
    assert _postmaster_pid(cluster_env) == pid, "a running cluster is reused, not restarted"
    assert _script(cluster_env, "url").returncode == 0

    stopped = _script(cluster_env, "stop")
    assert stopped.returncode == 0, stopped.stderr
    assert not _accepts_connections(port)
    assert _script(cluster_env, "url").returncode == 1

    # The stopped cluster's data directory is now stale; a holder gets a fresh cluster, and the
    # last holder to leave stops it.
    holder = str(os.getpid())
    acquired = _script(cluster_env, "acquire", holder)
    assert acquired.returncode == 0, acquired.stderr
    assert _server_version(expected_url)
    released = _script(cluster_env, "release", holder)
    assert released.returncode == 0, released.stderr
    assert not _accepts_connections(port)
