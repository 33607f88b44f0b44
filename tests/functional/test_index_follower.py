"""The search index follows the database: on both engines, across processes, without restarts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from papercast.bootstrap import Papercast
from papercast.index import vector_files
from support.apps import hashing_app, ingest_file


def _split_corpus(shared_data: Path, tmp_path: Path) -> tuple[Path, Path]:
    lines = (shared_data / "seed-papers.jsonl").read_text().splitlines()
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    first.write_text("\n".join(lines[:150]) + "\n")
    second.write_text("\n".join(lines[150:]) + "\n")
    return first, second


def test_worker_indexes_and_a_web_process_sees_it_without_restart(
        database_url: str, tmp_path: Path, shared_data: Path) -> None:
    first, second = _split_corpus(shared_data, tmp_path)
    worker, web = hashing_app(database_url, tmp_path / "data"), hashing_app(database_url, tmp_path / "data")
    try:
        ingest_file(worker, first)
        worker.embedding_service().catch_up()
        assert worker.index_follower().catch_up().wrote
        search = web.search_service()
        assert not web.index_follower().catch_up().wrote  # the worker holds the writer lock
        late_title = json.loads(second.read_text().splitlines()[0])["title"]
        assert late_title not in [h.title for h in search.search(late_title, limit=10).results]

        ingest_file(worker, second)
        worker.embedding_service().catch_up()
        worker.index_follower().catch_up()
        web.index_follower().catch_up()  # what the web process's follower thread does: reload

        hits = search.search(late_title, limit=3)
        assert hits.results[0].title == late_title
        assert hits.mode == "hybrid"
        status = worker.index_follower().status()
        assert status.keyword_documents == status.catalog_papers == 236
        assert (status.keyword_lag_changes, status.vector_lag_changes, status.embeddings_pending) == (0, 0, 0)
    finally:
        worker.close()
        web.close()


def test_the_worker_precomputes_similar_papers_and_the_web_process_serves_them(
        database_url: str, tmp_path: Path, shared_data: Path) -> None:
    worker, web = hashing_app(database_url, tmp_path / "data"), hashing_app(database_url, tmp_path / "data")
    try:
        ingest_file(worker, shared_data / "seed-papers.jsonl")
        worker.embedding_service().catch_up()
        follower = worker.index_follower()
        follower.catch_up()
        assert follower.status().neighbours_pending == 236
        search = web.search_service()
        web.index_follower().catch_up()
        live = [hit.paper_id for hit in search.similar("seed-001", limit=6).results]  # searched

        assert web.index_follower().refresh_neighbours() == 0  # only the writer computes them
        assert follower.refresh_neighbours(max_rows=100) == 100
        assert follower.refresh_neighbours() == 136 and follower.status().neighbours_pending == 0
        web.index_follower().catch_up()  # reload the saved lists
        vectors = web.index_follower().vectors
        assert vectors is not None and vectors.neighbours("seed-001", 6) is not None
        stored = search.similar("seed-001", limit=6)
        assert [hit.paper_id for hit in stored.results] == live and stored.mode == "vector"
        assert all(hit.paper is not None and hit.paper.paper_id == hit.paper_id for hit in stored.results)
    finally:
        worker.close()
        web.close()


def test_processes_with_their_own_directories_follow_independently(
        database_url: str, tmp_path: Path, shared_data: Path) -> None:
    first, second = _split_corpus(shared_data, tmp_path)
    one, two = hashing_app(database_url, tmp_path / "one"), hashing_app(database_url, tmp_path / "two")
    try:
        ingest_file(one, first)
        assert one.index_follower().catch_up().papers_indexed == 150
        ingest_file(two, second)
        assert two.index_follower().catch_up().papers_indexed == 236
        assert one.index_follower().catch_up().papers_indexed == 86
        assert one.index_follower().status().keyword_lag_changes == 0
    finally:
        one.close()
        two.close()


def test_rebuild_gives_the_same_index_as_following(database_url: str, tmp_path: Path,
                                                   shared_data: Path) -> None:
    app = hashing_app(database_url, tmp_path / "data")
    try:
        ingest_file(app, shared_data / "seed-papers.jsonl")
        app.embedding_service().catch_up()
        app.index_follower().catch_up()
        search = app.search_service()
        before = search.search("attention transformer", limit=10).ranking
        report = app.index_follower().rebuild()
        assert (report.papers_indexed, report.vectors_indexed) == (236, 236)
        assert search.search("attention transformer", limit=10).ranking == before
    finally:
        app.close()


def test_same_rankings_on_sqlite_and_postgresql(postgres_url: str, tmp_path: Path, shared_data: Path) -> None:
    lines = (shared_data / "dev-queries.jsonl").read_text().splitlines()
    queries = [json.loads(line)["query"] for line in lines]
    rankings = []
    for name, url in (("sqlite", f"sqlite:///{tmp_path / 'papercast.db'}"), ("postgresql", postgres_url)):
        app = hashing_app(url, tmp_path / name)
        try:
            ingest_file(app, shared_data / "seed-papers.jsonl")
            app.embedding_service().catch_up()
            app.index_follower().catch_up()
            search = app.search_service()
            rankings.append([search.search(query, limit=10).ranking for query in queries])
        finally:
            app.close()
    assert rankings[0] == rankings[1]
    assert all(len(ranking) == 10 for ranking in rankings[0])


def _files(folder: Path) -> set[str]:
    return {path.name for path in folder.iterdir()}


def _worker_and_web(database_url: str, data_dir: Path, papers: Path) -> tuple[Papercast, Papercast]:
    """Two processes on one index directory; the worker has indexed `papers`, the web one loaded them."""
    worker, web = hashing_app(database_url, data_dir), hashing_app(database_url, data_dir)
    ingest_file(worker, papers)
    worker.embedding_service().catch_up()
    worker.index_follower().catch_up()
    web.index_follower().catch_up()
    return worker, web


def test_a_reader_keeps_what_it_loaded_when_the_writer_deletes_it(
        database_url: str, tmp_path: Path, shared_data: Path) -> None:
    worker, web = _worker_and_web(database_url, tmp_path / "data", shared_data / "seed-papers.jsonl")
    try:
        search = web.search_service()
        before = search.search("attention transformer", limit=10)
        loaded_vectors, loaded_keyword = web.index_follower().vectors, web.index_follower().keyword
        assert loaded_keyword is not None and loaded_vectors is not None
        vector_files_loaded = _files(tmp_path / "data" / "index" / "vectors")

        worker.index_follower().rebuild()  # new directories and a new base...
        worker.index_follower().refresh_neighbours()  # ...and one more save: what `web` loaded is deleted
        assert not loaded_keyword.directory.exists()  # type: ignore[union-attr]
        assert not vector_files_loaded & _files(tmp_path / "data" / "index" / "vectors") - {"meta.json"}
        again = search.search("attention transformer", limit=10)  # memory-mapped: still readable
        assert (again.ranking, again.mode) == (before.ranking, "hybrid")

        web.index_follower().catch_up()
        assert web.index_follower().keyword is not loaded_keyword
        assert web.index_follower().vectors is not loaded_vectors
        similar = search.similar("seed-001", limit=6)
        assert similar.mode == "vector" and web.index_follower().vectors.neighbours("seed-001", 6)  # type: ignore[union-attr]
        assert search.search("attention transformer", limit=10).ranking == before.ranking
    finally:
        worker.close()
        web.close()


def test_a_reader_whose_load_races_the_writer_keeps_its_index_and_loads_the_next(
        database_url: str, tmp_path: Path, shared_data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = _split_corpus(shared_data, tmp_path)
    worker, web = _worker_and_web(database_url, tmp_path / "data", first)
    try:
        loaded = web.index_follower().vectors
        ingest_file(worker, second)
        worker.embedding_service().catch_up()
        worker.index_follower().catch_up()  # a delta the web process starts to read...
        real_read = vector_files.read_segment

        def writer_moves_on_first(*args: Any, **kwargs: Any) -> Any:
            monkeypatch.setattr(vector_files, "read_segment", real_read)
            worker.index_follower().rebuild()  # ...while the writer publishes twice, deleting it
            worker.index_follower().refresh_neighbours()
            return real_read(*args, **kwargs)

        monkeypatch.setattr(vector_files, "read_segment", writer_moves_on_first)
        web.index_follower().catch_up()
        assert web.index_follower().vectors is loaded and loaded is not None and len(loaded) == 150
        assert web.search_service().search("attention transformer", limit=5).mode == "hybrid"
        web.index_follower().catch_up()
        reloaded = web.index_follower().vectors
        assert reloaded is not None and len(reloaded) == 236 and reloaded.pending_neighbours() == 0
    finally:
        worker.close()
        web.close()
