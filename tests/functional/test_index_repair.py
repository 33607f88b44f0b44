"""Damaged or stale search indexes: found, reported with what to do, searched around, and rebuilt
from the database by whichever process writes the index (`catch_up`) or by `index rebuild`."""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from papercast.bootstrap import Papercast
from papercast.index.vectors import VectorIndex
from support.apps import hashing_app, ingest_file
from support.index_damage import KEYWORD_DAMAGE, VECTOR_DAMAGE, Damage

QUERY = "attention transformer"
PAPERS = 236




@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'papercast.db'}"


def _built(database_url: str, data_dir: Path, shared_data: Path) -> list[str]:
    """A catalog of the seed papers with both indexes and every similar-paper list; the ranking of QUERY."""
    app = hashing_app(database_url, data_dir)
    try:
        ingest_file(app, shared_data / "seed-papers.jsonl")
        app.embedding_service().catch_up()
        follower = app.index_follower()
        follower.catch_up()
        follower.refresh_neighbours()
        return app.search_service().search(QUERY, limit=10).ranking
    finally:
        app.close()


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[list[Papercast]]:
    """Apps made by a test, closed after it (each stands for a process)."""
    apps: list[Papercast] = []
    yield apps
    for app in apps:
        app.close()


def _damaged_then_repaired(database_url: str, tmp_path: Path, shared_data: Path, damage: Damage,
                           processes: list[Papercast], caplog: pytest.LogCaptureFixture) -> dict[str, object]:
    """Damage a built index; a writer (checked, not yet rebuilding) and a reader come up on it."""
    data_dir = tmp_path / "data"
    expected = _built(database_url, data_dir, shared_data)
    damage(data_dir / "index")
    writer, reader = hashing_app(database_url, data_dir), hashing_app(database_url, data_dir)
    processes.extend([writer, reader])
    status = reader.index_follower().status()
    with caplog.at_level(logging.WARNING, logger="papercast.index"):
        writer.index_follower().catch_up(max_batches=0)  # takes the lock, checks, starts no work yet
    reader.index_follower().catch_up()
    meanwhile = reader.search_service().search(QUERY, limit=10)
    report = writer.index_follower().catch_up()
    reader.index_follower().catch_up()
    after = reader.search_service().search(QUERY, limit=10)
    return {"status": status, "report": report, "meanwhile": meanwhile, "after": after, "expected": expected,
            # the writer's events (the reader, in this same test process, logs its own)
            "events": [r.getMessage() for r in caplog.records if "action=rebuilding" in r.getMessage()],
            "writer": writer, "reader": reader}


@pytest.mark.parametrize("kind", KEYWORD_DAMAGE)
def test_a_damaged_keyword_index_is_reported_searched_around_and_rebuilt(
        kind: str, sqlite_url: str, tmp_path: Path, shared_data: Path, processes: list[Papercast],
        caplog: pytest.LogCaptureFixture) -> None:
    seen = _damaged_then_repaired(sqlite_url, tmp_path, shared_data, KEYWORD_DAMAGE[kind], processes, caplog)
    status = seen["status"]
    assert status.keyword_problem and status.keyword_seq == 0 and status.keyword_lag_changes == PAPERS  # type: ignore[attr-defined]
    assert len(seen["events"]) == 1 and "index.keyword.damaged" in seen["events"][0]  # type: ignore[arg-type, index]
    meanwhile = seen["meanwhile"]
    assert meanwhile.results, kind  # type: ignore[attr-defined]
    if meanwhile.mode == "vector":  # type: ignore[attr-defined]
        assert meanwhile.degraded and "keyword index" in " ".join(meanwhile.warnings)  # type: ignore[attr-defined]
    assert seen["report"].repaired == ("keyword",)  # type: ignore[attr-defined]
    after = seen["after"]
    assert after.mode == "hybrid" and after.ranking == seen["expected"]  # type: ignore[attr-defined]
    healthy = seen["writer"].index_follower().status()  # type: ignore[attr-defined]
    assert healthy.keyword_problem is None and healthy.keyword_documents == PAPERS
    assert healthy.keyword_lag_changes == 0


@pytest.mark.parametrize("kind", VECTOR_DAMAGE)
def test_a_damaged_vector_index_is_reported_searched_around_and_rebuilt(
        kind: str, sqlite_url: str, tmp_path: Path, shared_data: Path, processes: list[Papercast],
        caplog: pytest.LogCaptureFixture) -> None:
    seen = _damaged_then_repaired(sqlite_url, tmp_path, shared_data, VECTOR_DAMAGE[kind], processes, caplog)
    assert seen["status"].vector_problem  # type: ignore[attr-defined]
    assert len(seen["events"]) == 1 and "index.vectors.damaged" in seen["events"][0]  # type: ignore[arg-type, index]
    meanwhile = seen["meanwhile"]
    assert meanwhile.mode == "keyword" and meanwhile.degraded and meanwhile.results  # type: ignore[attr-defined]
    assert "vector index" in " ".join(meanwhile.warnings)  # type: ignore[attr-defined]
    assert seen["report"].repaired == ("vectors",)  # type: ignore[attr-defined]
    assert seen["after"].mode == "hybrid" and seen["after"].ranking == seen["expected"]  # type: ignore[attr-defined]
    assert seen["writer"].index_follower().status().vector_problem is None  # type: ignore[attr-defined]


@pytest.mark.parametrize("kind", ["keyword:segment-zeroed", "vectors:meta-deleted"])
def test_rebuild_works_from_the_database_whatever_is_on_disk(
        kind: str, database_url: str, tmp_path: Path, shared_data: Path, processes: list[Papercast]) -> None:
    index, name = kind.split(":")
    data_dir = tmp_path / "data"
    expected = _built(database_url, data_dir, shared_data)
    (KEYWORD_DAMAGE if index == "keyword" else VECTOR_DAMAGE)[name](data_dir / "index")
    app = hashing_app(database_url, data_dir)
    processes.append(app)
    report = app.index_follower().rebuild()
    assert (report.papers_indexed, report.vectors_indexed) == (PAPERS, PAPERS)
    status = app.index_follower().status()
    assert (status.keyword_problem, status.vector_problem) == (None, None)
    assert app.search_service().search(QUERY, limit=10).ranking == expected


def test_a_keyword_index_without_its_meta_is_stale_not_empty_and_current(
        database_url: str, tmp_path: Path, shared_data: Path, processes: list[Papercast]) -> None:
    data_dir = tmp_path / "data"
    _built(database_url, data_dir, shared_data)
    KEYWORD_DAMAGE["tantivy-meta-deleted"](data_dir / "index")
    app = hashing_app(database_url, data_dir)
    processes.append(app)
    status = app.index_follower().status()
    assert status.keyword_problem and "meta.json" in status.keyword_problem
    assert (status.keyword_seq, status.keyword_lag_changes) == (0, PAPERS)


def test_an_index_built_from_another_database_is_rebuilt(
        database_url: str, tmp_path: Path, shared_data: Path, processes: list[Papercast]) -> None:
    data_dir = tmp_path / "data"
    _built(f"sqlite:///{tmp_path / 'other.db'}", data_dir, shared_data)  # 236 papers at sequence 236
    lines = (shared_data / "seed-papers.jsonl").read_text().splitlines()
    first = tmp_path / "first.jsonl"
    first.write_text("\n".join(lines[:150]) + "\n")
    app = hashing_app(database_url, data_dir)
    processes.append(app)
    ingest_file(app, first)  # this database: 150 papers at sequence 150
    status = app.index_follower().status()
    assert status.keyword_problem and "another database" in status.keyword_problem
    assert status.vector_problem and "another database" in status.vector_problem  # it has no vectors
    report = app.index_follower().catch_up()
    assert report.papers_indexed == 150 and report.repaired == ("keyword", "vectors")
    after = app.index_follower().status()
    assert (after.keyword_documents, after.vectors) == (150, 0)
    assert (after.keyword_problem, after.vector_problem) == (None, None)


def test_an_index_holding_more_papers_than_the_database_had_is_rebuilt(
        database_url: str, tmp_path: Path, shared_data: Path, processes: list[Papercast]) -> None:
    data_dir = tmp_path / "data"
    _built(f"sqlite:///{tmp_path / 'other.db'}", data_dir, shared_data)  # 236 papers at sequence 236
    app = hashing_app(database_url, data_dir)
    processes.append(app)
    lines = (shared_data / "seed-papers.jsonl").read_text().splitlines()[:118]
    records = [json.loads(line) for line in lines]
    twice = tmp_path / "twice.jsonl"
    revised = [{**record, "abstract": f"{record['abstract']} Revised."} for record in records]
    twice.write_text("".join(json.dumps(record) + "\n" for record in revised))
    first = tmp_path / "first.jsonl"
    first.write_text("".join(json.dumps(r) + "\n" for r in records))
    ingest_file(app, first)
    ingest_file(app, twice)  # 118 papers, changed twice: also at sequence 236
    assert app.papers.max_change_seq() == PAPERS
    status = app.index_follower().status()
    assert status.keyword_problem == f"it holds {PAPERS} papers, the database 118"
    assert app.index_follower().catch_up().repaired == ("keyword", "vectors")
    assert app.index_follower().status().keyword_documents == 118


def test_the_writer_removes_a_build_a_writer_that_died_left_behind(
        sqlite_url: str, tmp_path: Path, shared_data: Path, processes: list[Papercast]) -> None:
    data_dir = tmp_path / "data"
    expected = _built(sqlite_url, data_dir, shared_data)
    left_behind = data_dir / "index" / "keyword-0badc0de"
    left_behind.mkdir()
    (left_behind / "meta.json").write_text("{}")
    app = hashing_app(sqlite_url, data_dir)
    processes.append(app)
    app.index_follower().catch_up()
    assert not left_behind.exists()
    assert app.search_service().search(QUERY, limit=10).ranking == expected


def test_a_vector_index_of_the_format_before_segments_is_rewritten_once(
        sqlite_url: str, tmp_path: Path, shared_data: Path, processes: list[Papercast]) -> None:
    data_dir = tmp_path / "data"
    expected = _built(sqlite_url, data_dir, shared_data)
    folder = data_dir / "index" / "vectors"
    saved = VectorIndex.load(folder)
    ids, matrix = saved.vectors([f"seed-{n:03d}" for n in range(1, PAPERS + 1)])
    shutil.rmtree(folder)
    folder.mkdir()
    np.save(folder / "vectors-old1.npy", matrix)
    np.save(folder / "alive-old1.npy", np.ones(len(ids), dtype=bool))
    (folder / "ids-old1.json").write_text(json.dumps(ids))
    (folder / "meta.json").write_text(json.dumps({
        "format": 1, "generation": "old1", "dimension": matrix.shape[1], "rows": len(ids),
        "count": len(ids), "hnsw": False, "metadata": saved.metadata}))
    app = hashing_app(sqlite_url, data_dir)
    processes.append(app)
    first = app.index_follower().catch_up()
    assert first.vector_save is not None and first.vector_save.kind == "base"
    assert not list(folder.glob("*-old1.*")) and app.index_follower().catch_up().vector_save is None
    assert app.search_service().search(QUERY, limit=10).ranking == expected
