"""The vector index on disk: saves cost what they add, deltas merge and compact, readers follow a
writer's deltas, searches go on during a save, every file is written crash-safely and damage is
named at load."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from papercast.index import durable, vector_files, vectors
from papercast.index.durable import DamagedFiles
from papercast.index.vectors import VectorIndex
from support.file_syncs import record_syncs

DIMENSION = 32


def _unit(count: int, seed: int, dimension: int = DIMENSION) -> np.ndarray:
    matrix = np.random.default_rng(seed).standard_normal((count, dimension))
    return (matrix / np.linalg.norm(matrix, axis=1, keepdims=True)).astype(np.float32)


def _index(count: int, *, exact_max: int = 100_000, seed: int = 0, dimension: int = DIMENSION) -> VectorIndex:
    index = VectorIndex(dimension, exact_max=exact_max, metadata={"model_id": "m@1"})
    index.build([f"p{row}" for row in range(count)], _unit(count, seed, dimension))
    return index


def _same_answers(one: VectorIndex, other: VectorIndex, queries: np.ndarray) -> None:
    assert len(one) == len(other)
    for query in queries:
        assert [paper_id for paper_id, _ in one.search(query, 10)] == \
            [paper_id for paper_id, _ in other.search(query, 10)]


def test_a_save_after_a_small_change_writes_what_changed_not_the_index(tmp_path: Path) -> None:
    index = _index(5_000)
    base = index.save(tmp_path)
    index.upsert([f"new{n}" for n in range(10)], _unit(10, seed=1))
    index.remove(["p3"])
    delta = index.save(tmp_path)
    assert (base.kind, delta.kind) == ("base", "delta")
    assert delta.bytes_written < base.bytes_written / 50
    _same_answers(VectorIndex.load(tmp_path), index, _unit(5, seed=2))
    assert "p3" not in VectorIndex.load(tmp_path) and "new9" in VectorIndex.load(tmp_path)


def test_many_deltas_merge_into_one_and_a_large_one_rewrites_the_base(tmp_path: Path) -> None:
    index = _index(2_000)
    index.save(tmp_path)
    kinds = []
    for step in range(vectors.MAX_DELTA_SEGMENTS + 1):
        index.upsert([f"s{step}"], _unit(1, seed=10 + step))
        kinds.append(index.save(tmp_path).kind)
    assert kinds == ["delta"] * vectors.MAX_DELTA_SEGMENTS + ["merge"]
    manifest = vector_files.read_manifest(tmp_path)
    assert manifest is not None and len(manifest.segments) == 2
    _same_answers(VectorIndex.load(tmp_path), index, _unit(5, seed=3))
    index.upsert([f"big{n}" for n in range(700)], _unit(700, seed=4))  # over a quarter of the base
    assert index.save(tmp_path).kind == "base"
    assert len(vector_files.read_manifest(tmp_path).segments) == 1  # type: ignore[union-attr]
    _same_answers(VectorIndex.load(tmp_path), index, _unit(5, seed=5))


def test_similar_paper_lists_are_saved_in_deltas(tmp_path: Path) -> None:
    index = _index(600, dimension=384)  # a list costs a tenth of a MiniLM vector, as in production
    index.save(tmp_path)
    assert index.refresh_neighbours(max_rows=200) == 200
    assert index.save(tmp_path).kind == "delta"
    index.upsert(["twin"], index.vector("p5")[None, :])  # type: ignore[index]
    index.refresh_neighbours()  # the new row joins older lists: they change and are saved again
    assert index.save(tmp_path).kind == "delta"
    loaded = VectorIndex.load(tmp_path)
    assert loaded.pending_neighbours() == 0
    for paper_id in ("p0", "p5", "p599", "twin"):
        assert loaded.neighbours(paper_id, 10) == index.neighbours(paper_id, 10)


def test_a_graph_index_searches_rows_saved_after_its_graph(tmp_path: Path) -> None:
    index = _index(600, exact_max=300)
    assert index.uses_hnsw
    index.save(tmp_path)
    index.upsert([f"late{n}" for n in range(20)], _unit(20, seed=6))
    index.save(tmp_path)
    loaded = VectorIndex.load(tmp_path, exact_max=300)
    query = loaded.vector("late7")
    assert loaded.search(query, 1)[0][0] == "late7"
    assert loaded.refresh_neighbours(max_rows=5) == 5  # a writer loading it adds the rows to its graph


def test_a_reader_applies_the_deltas_a_writer_publishes(tmp_path: Path) -> None:
    writer = _index(1_000, dimension=384)  # lists a tenth of a row, as with MiniLM
    writer.save(tmp_path)
    reader = VectorIndex.load(tmp_path)
    writer.upsert(["fresh", "p1"], _unit(2, seed=7, dimension=384))
    writer.remove(["p2"])
    writer.refresh_neighbours(max_rows=50)
    writer.save(tmp_path)
    assert reader.update_from(tmp_path)
    _same_answers(reader, writer, _unit(5, seed=8, dimension=384))
    assert "p2" not in reader and reader.neighbours("p0", 5) == writer.neighbours("p0", 5)
    kinds = []
    for step in range(vectors.MAX_DELTA_SEGMENTS + 1):  # one delta after another, a merge, a delta
        writer.upsert([f"step{step}", f"p{10 + step}"], _unit(2, seed=20 + step, dimension=384))
        writer.remove([f"p{40 + step}"])
        writer.refresh_neighbours(max_rows=30)
        kinds.append(writer.save(tmp_path).kind)
        assert reader.update_from(tmp_path)
        _same_answers(reader, writer, _unit(3, seed=40 + step, dimension=384))
    assert kinds[-2:] == ["merge", "delta"]
    assert reader.neighbours("step3", 5) == writer.neighbours("step3", 5)
    writer.upsert([f"many{n}" for n in range(400)], _unit(400, seed=9, dimension=384))
    assert writer.save(tmp_path).kind == "base"
    assert not reader.update_from(tmp_path)  # a new base: the reader loads it afresh


def test_searches_answer_while_a_save_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    index = _index(2_000)
    index.save(tmp_path)
    index.upsert(["fresh"], _unit(1, seed=11))
    answered: list[Any] = []
    real_write = vector_files.write_segment

    def write_while_searching(*args: Any, **kwargs: Any) -> Any:
        search = threading.Thread(target=lambda: answered.append(index.search(_unit(1, seed=12)[0], 3)))
        search.start()
        search.join(timeout=60)  # a save holding the search lock would leave it waiting here
        return real_write(*args, **kwargs)

    monkeypatch.setattr(vector_files, "write_segment", write_while_searching)
    assert index.save(tmp_path).kind == "delta"
    assert len(answered) == 1 and len(answered[0]) == 3


def test_every_file_of_a_save_is_fsynced_before_its_rename_and_the_folder_after(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    events = record_syncs(monkeypatch)
    index = _index(300, exact_max=200)  # with a graph file
    index.refresh_neighbours()
    index.save(tmp_path)
    written = sorted(path.name for path in tmp_path.iterdir())
    assert {"meta.json"} < set(written) and any(name.endswith(".hnsw.faiss") for name in written)
    for name in written:
        renamed = events.index(("rename", str(tmp_path / name)))
        assert ("fsync", str(tmp_path / name) + durable.TEMPORARY_SUFFIX) in events[:renamed]
        assert ("fsync", str(tmp_path)) in events[renamed:]
    assert events[-2:] == [("rename", str(tmp_path / "meta.json")), ("fsync", str(tmp_path))]


def test_an_interrupted_write_leaves_the_previous_file_whole(tmp_path: Path) -> None:
    target = tmp_path / "meta.json"
    durable.write_json(target, {"generation": 1})

    def fail_midway(handle: Any) -> None:
        handle.write(b'{"generation": ')
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        durable.write_file(target, fail_midway)
    assert target.read_text() == '{"generation": 1}' and sorted(tmp_path.iterdir()) == [target]


@pytest.mark.parametrize(("pattern", "harm", "message"), [
    ("*.vectors.npy", lambda path: path.unlink(), "missing"),
    ("*.vectors.npy", lambda path: path.write_bytes(path.read_bytes()[:-100]), "truncated"),
    ("*.vectors.npy", lambda path: path.write_bytes(bytes(path.stat().st_size)), "checksum"),
    ("*.ids.json", lambda path: path.write_bytes(b"[1, 2" + b" " * (path.stat().st_size - 5)), "checksum"),
    ("meta.json", lambda path: path.write_text("{]"), "not a vector index manifest"),
    ("*.lists.npy", lambda path: path.unlink(), "missing"),
])
def test_damaged_files_are_named_when_the_index_loads(tmp_path: Path, pattern: str, harm: Any,
                                                      message: str) -> None:
    index = _index(500)
    index.refresh_neighbours()
    index.save(tmp_path)
    damaged = next(tmp_path.glob(pattern))
    harm(damaged)
    with pytest.raises(DamagedFiles, match=message) as raised:
        VectorIndex.load(tmp_path)
    assert damaged.name in str(raised.value)


def test_a_zeroed_file_too_large_to_checksum_at_every_load_is_still_found(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vector_files, "ALWAYS_CHECKSUM_BYTES", 0)
    _index(500).save(tmp_path)
    vectors_file = next(tmp_path.glob("*.vectors.npy"))
    vectors_file.write_bytes(bytes(vectors_file.stat().st_size))
    with pytest.raises(DamagedFiles, match="not a readable array"):
        VectorIndex.load(tmp_path)
    with pytest.raises(DamagedFiles, match="checksum"):
        VectorIndex.load(tmp_path, verify=True)


def test_an_index_saved_whole_by_the_previous_version_loads_and_is_rewritten(tmp_path: Path) -> None:
    ids = [f"p{row}" for row in range(50)]
    matrix = _unit(50, seed=13)
    generation = "abc123"
    np.save(tmp_path / f"vectors-{generation}.npy", matrix)
    np.save(tmp_path / f"alive-{generation}.npy", np.ones(50, dtype=bool))
    (tmp_path / f"ids-{generation}.json").write_text(json.dumps(ids))
    (tmp_path / "meta.json").write_text(json.dumps(
        {"format": 1, "generation": generation, "dimension": DIMENSION, "rows": 50, "count": 50,
         "hnsw": False, "metadata": {"model_id": "m@1", "embedding_seq": 7}}))
    loaded = VectorIndex.load(tmp_path)
    assert len(loaded) == 50 and loaded.metadata["embedding_seq"] == 7
    assert loaded.search(matrix[4], 1)[0][0] == "p4"
    assert loaded.save(tmp_path).kind == "base"
    assert not list(tmp_path.glob("vectors-*.npy"))
    assert VectorIndex.load(tmp_path).search(matrix[4], 1)[0][0] == "p4"
