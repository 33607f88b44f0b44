"""Contract tests for stored embeddings and the embedding catch-up, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import delete
from typer.testing import CliRunner

from papercast.bootstrap import Papercast, build
from papercast.cli.main import app as cli_app
from papercast.domain.papers import PaperRecord
from papercast.embeddings.hashing import HashingEmbedder
from papercast.embeddings.text import paper_text, text_hash
from papercast.services.embedding import EmbeddingService
from papercast.settings import Settings
from papercast.storage import migrations
from papercast.storage.embeddings import EmbeddingRow, SqlEmbeddingStore
from papercast.storage.engine import write_transaction
from papercast.storage.tables import papers


class CountingEmbedder(HashingEmbedder):
    """A hashing encoder that remembers what it was asked to embed, and can fail on demand."""

    def __init__(self, dimension: int = 64, fail_on_call: int | None = None) -> None:
        super().__init__(dimension)
        self.texts: list[str] = []
        self.calls = 0
        self._fail_on_call = fail_on_call

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        if self.calls == self._fail_on_call:
            raise KeyboardInterrupt
        self.texts.extend(texts)
        return super().embed_documents(texts)


@pytest.fixture
def papercast(database_url: str, tmp_path: Path) -> Iterator[Papercast]:
    settings = Settings.load(env={}, data_dir=tmp_path, database_url=database_url, embedding_model="hashing")
    app = build(settings)
    yield app
    app.close()


@pytest.fixture
def store(papercast: Papercast) -> SqlEmbeddingStore:
    return papercast.embedding_store()


def _record(number: int, version: int = 1, **fields: object) -> PaperRecord:
    base: dict[str, object] = {
        "paper_id": f"2101.{number:05d}", "title": f"Paper {number} on topic {number % 3}",
        "source": "test", "abstract": f"We study problem {number} with method {number % 5}.",
        "version": version,
    }
    base.update(fields)
    return PaperRecord(**base)  # type: ignore[arg-type]


def _ingest(papercast: Papercast, *records: PaperRecord) -> None:
    papercast.ingest.ingest(list(records))


def test_migrations_match_the_tables(papercast: Papercast) -> None:
    assert migrations.current_revision(papercast.engine) == migrations.head_revision()
    assert migrations.drift(papercast.engine) == []


def test_new_papers_are_pending_until_embedded(papercast: Papercast, store: SqlEmbeddingStore) -> None:
    _ingest(papercast, *(_record(n) for n in range(5)))
    assert store.pending_count("m@1") == 5
    pending = store.pending("m@1", 3)
    assert [p.change_seq for p in pending] == sorted(p.change_seq for p in pending)
    assert [p.stored_text_hash for p in pending] == [None, None, None]
    assert store.pending("m@1", 10, after_change_seq=pending[-1].change_seq)[0].paper_id == "2101.00003"
    vectors = HashingEmbedder(16).embed_documents([paper_text(p.title, p.abstract) for p in pending])
    rows = [EmbeddingRow(p.paper_id, v, p.content_hash, text_hash(paper_text(p.title, p.abstract)))
            for p, v in zip(pending, vectors, strict=True)]
    assert store.save("m@1", rows) == 3
    assert store.pending_count("m@1") == 2
    assert store.pending_count("other@1") == 5


def test_vectors_round_trip_exactly_in_chunks(papercast: Papercast, store: SqlEmbeddingStore) -> None:
    _ingest(papercast, *(_record(n) for n in range(7)))
    pending = store.pending("m@1", 100)
    vectors = np.random.default_rng(0).standard_normal((7, 12)).astype(np.float32)
    store.save("m@1", [(p.paper_id, v, p.content_hash, "t") for p, v in zip(pending, vectors, strict=True)])
    ids, matrix = store.vectors("m@1", chunk_size=3)
    expected = dict(zip([p.paper_id for p in pending], vectors, strict=True))
    assert ids == sorted(expected) and matrix.dtype == np.float32 and matrix.shape == (7, 12)
    np.testing.assert_array_equal(matrix, np.stack([expected[i] for i in ids]))
    assert [len(chunk_ids) for chunk_ids, _ in store.iter_vector_chunks("m@1", chunk_size=3)] == [3, 3, 1]
    assert store.vectors("nothing@1")[0] == []
    assert store.count("m@1") == 7


def test_changed_since_follows_writes_in_order(papercast: Papercast, store: SqlEmbeddingStore) -> None:
    _ingest(papercast, *(_record(n) for n in range(4)))
    service = EmbeddingService(store, HashingEmbedder(16))
    assert store.last_seq() == 0
    service.catch_up(batch_size=2)
    first = store.changed_since("hashing-16@v1", 0, limit=3)
    assert len(first.ids) == 3 and first.matrix.shape == (3, 16)
    rest = store.changed_since("hashing-16@v1", first.last_seq)
    assert len(rest.ids) == 1 and rest.last_seq == store.last_seq() == 4
    assert set(first.ids) | set(rest.ids) == {f"2101.{n:05d}" for n in range(4)}
    _ingest(papercast, _record(2, version=2, abstract="A rewritten abstract."))
    service.catch_up()
    changed = store.changed_since("hashing-16@v1", rest.last_seq)
    assert changed.ids == ["2101.00002"] and changed.last_seq == 5
    assert store.changed_since("another@1", 0).ids == []
    assert store.changed_since("hashing-16@v1", 5).last_seq == 5
    EmbeddingService(store, HashingEmbedder(8)).catch_up(limit=1)
    switched = store.changed_since("hashing-16@v1", 5)
    assert (switched.ids, switched.replaced_ids, switched.last_seq) == ([], ["2101.00000"], 6)


def test_catch_up_embeds_only_real_text_changes(papercast: Papercast, store: SqlEmbeddingStore) -> None:
    _ingest(papercast, *(_record(n) for n in range(6)))
    embedder = CountingEmbedder()
    service = EmbeddingService(store, embedder)
    report = service.catch_up(batch_size=4)
    assert (report.embedded, report.refreshed, report.remaining) == (6, 0, 0)
    assert embedder.calls == 2
    _ingest(papercast, _record(1, doi="10.1000/new"), _record(2, version=2, abstract="New findings."))
    assert store.pending_count(embedder.model_id) == 2
    embedder.texts.clear()
    report = service.catch_up()
    assert (report.embedded, report.refreshed, report.remaining) == (1, 1, 0)
    assert embedder.texts == [paper_text("Paper 2 on topic 2", "New findings.")]
    assert service.catch_up().embedded == 0


def test_a_new_model_re_embeds_everything(papercast: Papercast, store: SqlEmbeddingStore) -> None:
    _ingest(papercast, *(_record(n) for n in range(5)))
    EmbeddingService(store, HashingEmbedder(32)).catch_up()
    assert store.pending_count("hashing-64@v1") == 5
    report = EmbeddingService(store, HashingEmbedder(64)).catch_up(batch_size=2)
    assert (report.embedded, report.remaining) == (5, 0)
    assert store.count("hashing-32@v1") == 0
    ids, matrix = store.vectors("hashing-64@v1")
    assert len(ids) == 5 and matrix.shape == (5, 64)


def test_catch_up_honours_the_limit_and_keeps_committed_batches(
        papercast: Papercast, store: SqlEmbeddingStore) -> None:
    _ingest(papercast, *(_record(n) for n in range(10)))
    seen: list[int] = []
    report = EmbeddingService(store, CountingEmbedder()).catch_up(
        batch_size=3, limit=5, on_progress=lambda r: seen.append(r.processed))
    assert (report.embedded, report.remaining) == (5, 5)
    assert seen == [3, 5]
    with pytest.raises(KeyboardInterrupt):
        EmbeddingService(store, CountingEmbedder(fail_on_call=2)).catch_up(batch_size=2)
    assert store.pending_count("hashing-64@v1") == 3


def test_deleted_papers_lose_their_vectors_and_are_skipped_on_save(
        papercast: Papercast, store: SqlEmbeddingStore) -> None:
    _ingest(papercast, _record(1), _record(2))
    pending = store.pending("m@1", 10)
    EmbeddingService(store, HashingEmbedder(8)).catch_up()
    with write_transaction(papercast.engine) as connection:
        connection.execute(delete(papers).where(papers.c.id == "2101.00001"))
    assert store.vectors("hashing-8@v1")[0] == ["2101.00002"]
    vector = np.ones(8, dtype=np.float32)
    assert store.save("m@1", [(p.paper_id, vector, p.content_hash, "t") for p in pending]) == 1


def test_the_embedder_loads_lazily_once(papercast: Papercast) -> None:
    assert papercast._embedder is None
    embedder = papercast.embedder()
    assert embedder is papercast.embedder() and embedder.model_id == "hashing-256@v1"
    assert papercast.embedding_service("hashing").model_id == "hashing-256@v1"


def test_embed_command_reports_progress_as_json(settings_env: dict[str, str]) -> None:
    runner = CliRunner()
    assert runner.invoke(cli_app, ["demo"], env=settings_env, catch_exceptions=False).exit_code == 0
    result = runner.invoke(cli_app, ["embed", "--model", "hashing", "--limit", "100", "--json"],
                           env=settings_env, catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["model_id"], report["embedded"], report["remaining"]) == ("hashing-256@v1", 100, 166)
    result = runner.invoke(cli_app, ["embed", "--model", "hashing"], env=settings_env, catch_exceptions=False)
    assert result.exit_code == 0 and "166 embedded, 0 remaining" in result.stdout
    result = runner.invoke(cli_app, ["embed", "--model", "bert"], env=settings_env)
    assert result.exit_code == 2 and "unknown encoder" in result.stderr


def test_a_drained_backlog_moves_the_watermark(papercast: Papercast, store: SqlEmbeddingStore) -> None:
    _ingest(papercast, *(_record(n) for n in range(6)))
    service = EmbeddingService(store, HashingEmbedder(16))
    service.catch_up(batch_size=2, limit=3)
    assert store.watermark("hashing-16@v1") == 0  # a run stopped by its limit proves nothing
    service.catch_up(batch_size=2)
    assert store.watermark("hashing-16@v1") == store.newest_change_seq() == 6
    _ingest(papercast, _record(0, version=2, abstract="Changed."), _record(9))
    assert [p.paper_id for p in store.pending("hashing-16@v1", 10)] == ["2101.00000", "2101.00009"]
    assert store.pending_count("hashing-16@v1") == 2
    assert service.catch_up().embedded == 2
    assert store.watermark("hashing-16@v1") == 8
    store.advance_watermark("hashing-16@v1", 3)  # never moves back
    assert store.watermark("hashing-16@v1") == 8
    EmbeddingService(store, HashingEmbedder(32)).catch_up(limit=1)
    assert store.watermark("hashing-16@v1") == 0  # the other encoder replaced a vector
    assert store.pending_count("hashing-16@v1") == 1


def test_a_vector_of_an_older_text_never_replaces_a_newer_one(
        papercast: Papercast, store: SqlEmbeddingStore) -> None:
    _ingest(papercast, _record(1))
    [stale] = store.pending("m@1", 10)
    _ingest(papercast, _record(1, version=2, abstract="A newer abstract."))
    assert store.save("m@1", [(stale.paper_id, np.ones(4, dtype=np.float32), stale.content_hash, "t")]) == 0
    assert store.refresh("m@1", [(stale.paper_id, stale.content_hash, "t")]) == 0
    [current] = store.pending("m@1", 10)
    assert current.content_hash != stale.content_hash and current.change_seq > stale.change_seq


@pytest.mark.parametrize("threshold", [0, 1_000], ids=["join", "lookups"])
def test_both_ways_of_counting_the_backlog_agree(
        papercast: Papercast, store: SqlEmbeddingStore, monkeypatch: pytest.MonkeyPatch,
        threshold: int) -> None:
    import papercast.storage.embeddings as embeddings_module

    monkeypatch.setattr(embeddings_module, "JOIN_COUNT_THRESHOLD", threshold)
    _ingest(papercast, *(_record(n) for n in range(8)))
    EmbeddingService(store, HashingEmbedder(16)).catch_up(limit=5)
    _ingest(papercast, _record(1, version=2, abstract="Changed."))
    assert store.pending_count("hashing-16@v1") == 4
    assert store.pending_count("hashing-32@v1") == 8
