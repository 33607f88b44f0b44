"""The vector index: exact search against brute force, HNSW recall, changes, and persistence."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from papercast.index.durable import DamagedFiles
from papercast.index.vectors import VectorIndex

DIMENSION = 32


def _unit(matrix: np.ndarray) -> np.ndarray:
    return (matrix / np.linalg.norm(matrix, axis=-1, keepdims=True)).astype(np.float32)


def _random(count: int, seed: int = 0, dimension: int = DIMENSION) -> np.ndarray:
    return _unit(np.random.default_rng(seed).standard_normal((count, dimension)))


def _clustered(centres: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """Points around random cluster centres; neighbours sit at cosine 0.4-0.6, as with abstracts."""
    members = centres[rng.integers(0, len(centres), count)]
    return _unit(members + 1.4 * rng.standard_normal((count, centres.shape[1])) / np.sqrt(centres.shape[1]))


def _brute_force(ids: list[str], matrix: np.ndarray, query: np.ndarray, limit: int) -> list[str]:
    scores = matrix @ query
    return [ids[row] for row in np.lexsort((np.arange(len(ids)), -scores))[:limit]]


def test_exact_search_matches_brute_force() -> None:
    matrix, queries = _random(2000, seed=1), _random(20, seed=2)
    ids = [f"p{row}" for row in range(len(matrix))]
    index = VectorIndex(DIMENSION)
    index.build(ids, matrix)
    assert len(index) == 2000 and not index.uses_hnsw
    for query in queries:
        found = index.search(query, 10)
        assert [paper_id for paper_id, _ in found] == _brute_force(ids, matrix, query, 10)
        scores = [score for _, score in found]
        assert scores == sorted(scores, reverse=True)
        assert scores[0] == pytest.approx(float(matrix[int(found[0][0][1:])] @ query), abs=1e-5)


def test_search_excludes_ids_and_never_returns_more_than_it_holds() -> None:
    matrix = _random(5, seed=3)
    index = VectorIndex(DIMENSION)
    index.build(["a", "b", "c", "d", "e"], matrix)
    assert index.search(matrix[0], 1)[0][0] == "a"
    found = [paper_id for paper_id, _ in index.search(matrix[0], 10, exclude_ids=["a", "zz"])]
    assert len(found) == 4 and "a" not in found
    assert index.search(matrix[0], 10, exclude_ids=["a", "b", "c", "d", "e"]) == []
    assert VectorIndex(DIMENSION).search(matrix[0], 10) == []


def test_upsert_replaces_and_remove_forgets() -> None:
    matrix = _random(100, seed=4)
    ids = [f"p{row}" for row in range(100)]
    index = VectorIndex(DIMENSION)
    index.build(ids, matrix)
    index.upsert(["p7", "new"], np.stack([matrix[50], matrix[60]]))
    assert len(index) == 101
    assert {paper_id for paper_id, _ in index.search(matrix[50], 2)} == {"p7", "p50"}
    assert index.search(matrix[7], 1)[0][0] != "p7"
    assert index.remove(["p50", "p7", "unknown"]) == 2
    assert len(index) == 99 and "p7" not in index
    assert index.search(matrix[50], 1)[0][0] not in {"p50", "p7"}
    index.remove([f"p{row}" for row in range(100)])  # compaction on the way
    assert len(index) == 1 and index.search(matrix[60], 5) == [("new", pytest.approx(1.0, abs=1e-5))]


def test_the_last_vector_of_a_repeated_id_in_one_upsert_wins() -> None:
    matrix = _random(3, seed=5)
    index = VectorIndex(DIMENSION)
    index.upsert(["a", "a"], matrix[:2])
    assert len(index) == 1
    np.testing.assert_allclose(index.vector("a"), matrix[1])


def test_wrong_shapes_are_refused() -> None:
    index = VectorIndex(DIMENSION)
    with pytest.raises(ValueError, match="dimensions"):
        index.upsert(["a"], _random(1, dimension=DIMENSION + 1))
    with pytest.raises(ValueError, match="unique"):
        index.build(["a", "a"], _random(2))
    with pytest.raises(ValueError, match="query"):
        index.search(np.zeros(DIMENSION + 1), 3)


def test_hnsw_recall_at_10_against_exact_search() -> None:
    rng = np.random.default_rng(6)
    centres = _random(200, seed=6, dimension=64)
    matrix, queries = _clustered(centres, 20_000, rng), _clustered(centres, 100, rng)
    ids = [f"p{row}" for row in range(len(matrix))]
    exact, approximate = VectorIndex(64), VectorIndex(64, exact_max=1000)  # a low limit forces faiss
    exact.build(ids, matrix)
    approximate.build(ids, matrix)
    assert approximate.uses_hnsw and not exact.uses_hnsw
    hits = 0
    for query in queries:
        truth = {paper_id for paper_id, _ in exact.search(query, 10)}
        hits += len(truth & {paper_id for paper_id, _ in approximate.search(query, 10)})
    assert hits / (10 * len(queries)) >= 0.95


def test_hnsw_index_handles_upserts_removals_and_exclusions() -> None:
    matrix = _random(3000, seed=7)
    ids = [f"p{row}" for row in range(3000)]
    index = VectorIndex(DIMENSION, exact_max=1000)
    index.build(ids, matrix)
    index.upsert(["p1"], matrix[2:3])
    index.remove(["p2"])
    found = [paper_id for paper_id, _ in index.search(matrix[2], 5, exclude_ids=["p3"])]
    assert found[0] == "p1" and "p2" not in found and "p3" not in found
    assert len(index) == 2999
    index.remove(ids[1000:])  # compaction: back under exact_max, so exact search again
    assert not index.uses_hnsw and len(index) == 999
    assert index.search(matrix[1], 1)[0][0] != "p1"


def test_growing_past_the_exact_limit_switches_to_hnsw() -> None:
    matrix = _random(300, seed=8)
    index = VectorIndex(DIMENSION, exact_max=200)
    index.upsert([f"p{row}" for row in range(150)], matrix[:150])
    assert not index.uses_hnsw
    index.upsert([f"p{row}" for row in range(150, 300)], matrix[150:])
    assert index.uses_hnsw and index.search(matrix[250], 1)[0][0] == "p250"


@pytest.mark.parametrize("exact_max", [10_000, 100], ids=["exact", "hnsw"])
def test_save_and_load_round_trip(tmp_path: Path, exact_max: int) -> None:
    matrix = _random(500, seed=9)
    ids = [f"p{row}" for row in range(500)]
    index = VectorIndex(DIMENSION, exact_max=exact_max, metadata={"model_id": "m@1", "through_seq": 42})
    index.build(ids, matrix)
    index.remove(["p0"])
    assert index.save(tmp_path / "vectors").kind == "base"
    index.upsert(["p9"], _random(1, seed=90))
    assert index.save(tmp_path / "vectors").kind == "delta"  # only the change is written
    loaded = VectorIndex.load(tmp_path / "vectors", exact_max=exact_max)
    assert loaded.metadata == {"model_id": "m@1", "through_seq": 42}
    assert len(loaded) == 499 and "p0" not in loaded and loaded.uses_hnsw == index.uses_hnsw
    for query in matrix[1:20]:
        assert loaded.search(query, 5) == index.search(query, 5)
    loaded.upsert(["p1", "fresh"], matrix[:2])  # appended after the memory-mapped rows
    assert loaded.search(matrix[0], 2)[0][0] in {"p1", "fresh"}
    assert len(loaded) == 500


def test_a_broken_generation_is_refused(tmp_path: Path) -> None:
    index = VectorIndex(DIMENSION)
    index.build(["a", "b"], _random(2))
    index.save(tmp_path)
    ids_file = next(tmp_path.glob("*.ids.json"))
    ids_file.write_text('["a"]')
    with pytest.raises(DamagedFiles, match="ids.json"):
        VectorIndex.load(tmp_path)


def _exact_neighbours(ids: list[str], matrix: np.ndarray, row: int, limit: int) -> list[str]:
    scores = matrix @ matrix[row]
    scores[row] = -np.inf
    return [ids[r] for r in np.lexsort((np.arange(len(ids)), -scores))[:limit]]


def test_precomputed_neighbours_equal_an_exact_search_and_survive_a_save(tmp_path: Path) -> None:
    matrix = _random(600, seed=11)
    ids = [f"p{row}" for row in range(len(matrix))]
    index = VectorIndex(DIMENSION)
    index.build(ids, matrix)
    assert index.neighbours("p0", 6) is None and index.pending_neighbours() == 600
    assert index.refresh_neighbours(max_rows=100) == 100 and index.pending_neighbours() == 500
    assert index.refresh_neighbours() == 500 and index.pending_neighbours() == 0
    for row in (0, 17, 599):
        found = index.neighbours(ids[row], 10)
        assert found is not None
        assert [paper_id for paper_id, _ in found] == _exact_neighbours(ids, matrix, row, 10)
        assert [score for _, score in found] == sorted((score for _, score in found), reverse=True)
    assert index.neighbours("p0", 17) is None  # more than a list holds: the caller searches
    index.save(tmp_path)
    loaded = VectorIndex.load(tmp_path)
    assert loaded.pending_neighbours() == 0 and loaded.neighbours("p17", 10) == index.neighbours("p17", 10)


def test_a_new_paper_joins_the_lists_of_older_papers_and_a_removed_one_leaves_them() -> None:
    matrix = _random(300, seed=12)
    ids = [f"p{row}" for row in range(len(matrix))]
    index = VectorIndex(DIMENSION)
    index.build(ids, matrix)
    index.refresh_neighbours()
    twin = _unit(matrix[5] + 0.01 * _random(1, seed=13)[0])  # nearest to p5 of all
    index.upsert(["new"], twin[None, :])
    assert index.pending_neighbours() == 1 and index.refresh_neighbours() == 1
    assert index.neighbours("p5", 1)[0][0] == "new"  # type: ignore[index]
    assert index.neighbours("new", 1)[0][0] == "p5"  # type: ignore[index]
    index.remove(["new"])
    after = index.neighbours("p5", 10)
    assert after is not None and "new" not in [paper_id for paper_id, _ in after]
    assert [paper_id for paper_id, _ in after] == _exact_neighbours(ids, matrix, 5, 10)


def test_neighbours_follow_rows_through_a_compaction() -> None:
    matrix = _random(200, seed=14)
    ids = [f"p{row}" for row in range(len(matrix))]
    index = VectorIndex(DIMENSION)
    index.build(ids, matrix)
    index.refresh_neighbours()
    gone = [f"p{row}" for row in range(0, 200, 3)]
    index.remove(gone)  # over a quarter of the rows: the matrix is compacted
    kept = [paper_id for paper_id in ids if paper_id not in set(gone)]
    kept_matrix = matrix[[int(paper_id[1:]) for paper_id in kept]]
    answered = 0
    for paper_id in kept:
        found = index.neighbours(paper_id, 10)
        if found is None:  # a list that lost too many neighbours is searched again
            continue
        answered += 1
        expected = _exact_neighbours(kept, kept_matrix, kept.index(paper_id), 10)
        assert [pid for pid, _ in found] == expected
    assert answered > len(kept) // 2


def test_hnsw_neighbours_are_mostly_the_exact_ones() -> None:
    rng = np.random.default_rng(15)
    matrix = _clustered(_random(40, seed=16), 3000, rng)
    ids = [f"p{row}" for row in range(len(matrix))]
    index = VectorIndex(DIMENSION, exact_max=1000)
    index.build(ids, matrix)
    assert index.uses_hnsw and index.refresh_neighbours() == 3000
    overlap = []
    for row in range(0, 3000, 150):
        found = index.neighbours(ids[row], 10)
        assert found is not None and ids[row] not in [paper_id for paper_id, _ in found]
        overlap.append(len({pid for pid, _ in found} & set(_exact_neighbours(ids, matrix, row, 10))) / 10)
    assert float(np.mean(overlap)) >= 0.9
