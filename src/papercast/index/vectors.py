"""Nearest-neighbour search over paper vectors: exact numpy up to a size, faiss HNSW beyond it.

Vectors are L2-normalised, so the inner product is the cosine. Rows live in one float32 matrix;
an upserted id that the HNSW graph already holds, and every removed id, leaves a tombstone that
searches skip, and the matrix (and graph) is compacted once tombstones pass a quarter of it.
Saved as `.npy` (memory-mappable), JSON ids and a faiss file, under a generation named by
`meta.json`, which is replaced last, so an interrupted save leaves the previous index loadable.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_EXACT_MAX = 300_000
HNSW_M = 32
# 64 builds in half the time of 128 at the same recall on clustered 384-d data (0.995 vs 0.997 at 20k).
HNSW_EF_CONSTRUCTION = 64
HNSW_EF_SEARCH = 128
COMPACT_DEAD_FRACTION = 0.25
FORMAT = 1
_META = "meta.json"


class VectorIndex:
    """Ids and their vectors, searchable by inner product; safe to share between threads."""

    def __init__(self, dimension: int, *, exact_max: int = DEFAULT_EXACT_MAX,
                 metadata: dict[str, Any] | None = None) -> None:
        if dimension < 1:
            raise ValueError("dimension must be positive")
        self.dimension = dimension
        self.exact_max = exact_max
        self.metadata: dict[str, Any] = dict(metadata or {})  # saved with the index (model id, sequence)
        self._lock = threading.RLock()
        self._reset(np.zeros((0, dimension), dtype=np.float32), [])

    # --- contents -----------------------------------------------------------------------------

    def build(self, ids: Sequence[str], matrix: np.ndarray) -> None:
        """Replace the contents with `ids` and their rows of `matrix` (HNSW when over `exact_max`)."""
        matrix = self._checked(matrix, len(ids))
        if len(set(ids)) != len(ids):
            raise ValueError("ids passed to build must be unique")
        with self._lock:
            self._reset(np.array(matrix, dtype=np.float32, copy=True), list(ids))
            if len(ids) > self.exact_max:
                self._build_hnsw()

    def upsert(self, ids: Sequence[str], vectors: np.ndarray) -> None:
        """Add vectors; an id already present gets the new vector (the last one wins in a batch)."""
        vectors = self._checked(vectors, len(ids))
        latest = {paper_id: position for position, paper_id in enumerate(ids)}
        with self._lock:
            appended: list[tuple[str, int]] = []
            for paper_id, position in latest.items():
                row = self._rows.get(paper_id)
                if row is not None and self._hnsw is None:
                    self._writable()[row] = vectors[position]  # exact search reads rows directly
                    continue
                if row is not None:
                    self._kill(row)  # the graph holds the old vector: tombstone it, append the new
                appended.append((paper_id, position))
            if appended:
                self._append([paper_id for paper_id, _ in appended],
                             vectors[[position for _, position in appended]])
            self._maybe_reorganise()

    def remove(self, ids: Iterable[str]) -> int:
        """Remove ids (unknown ones are ignored); returns how many were present."""
        with self._lock:
            removed = 0
            for paper_id in ids:
                row = self._rows.get(paper_id)
                if row is not None:
                    self._kill(row)
                    removed += 1
            if removed:
                self._maybe_reorganise()
            return removed

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, paper_id: object) -> bool:
        return paper_id in self._rows

    @property
    def uses_hnsw(self) -> bool:
        return self._hnsw is not None

    def vector(self, paper_id: str) -> np.ndarray | None:
        """The stored vector of `paper_id` (a copy), for "more like this" queries."""
        with self._lock:
            row = self._rows.get(paper_id)
            return None if row is None else np.array(self._matrix[row], dtype=np.float32)

    def vectors(self, paper_ids: Sequence[str]) -> tuple[list[str], np.ndarray]:
        """The ids of `paper_ids` that the index holds, in order, and their vectors as rows."""
        with self._lock:
            found = [(paper_id, row) for paper_id in paper_ids
                     if (row := self._rows.get(paper_id)) is not None]
            rows = np.fromiter((row for _, row in found), dtype=np.int64, count=len(found))
            return [paper_id for paper_id, _ in found], np.array(self._matrix[rows], dtype=np.float32)

    # --- search -------------------------------------------------------------------------------

    def search(self, query_vector: np.ndarray, limit: int,
               exclude_ids: Iterable[str] = ()) -> list[tuple[str, float]]:
        """The `limit` ids whose vectors have the highest inner product with the query, best first."""
        query = np.ascontiguousarray(query_vector, dtype=np.float32).reshape(-1)
        if query.shape[0] != self.dimension:
            raise ValueError(f"query has {query.shape[0]} dimensions, the index {self.dimension}")
        with self._lock:
            excluded = [self._rows[i] for i in set(exclude_ids) if i in self._rows]
            limit = min(limit, len(self._rows) - len(excluded))
            if limit <= 0:
                return []
            if self._hnsw is not None:
                rows, scores = self._search_hnsw(query, limit, excluded)
            else:
                rows, scores = self._search_exact(query, limit, excluded)
            return [(self._ids[row], float(score)) for row, score in zip(rows, scores, strict=True)]

    def _search_exact(self, query: np.ndarray, limit: int,
                      excluded: list[int]) -> tuple[np.ndarray, np.ndarray]:
        scores = self._matrix[:self._size] @ query
        scores[~self._alive[:self._size]] = -np.inf
        scores[excluded] = -np.inf
        top = np.argpartition(-scores, limit - 1)[:limit] if limit < self._size else np.arange(self._size)
        top = top[np.isfinite(scores[top])]
        order = np.lexsort((top, -scores[top]))[:limit]  # by score, then row, so ties are stable
        return top[order], scores[top[order]]

    def _search_hnsw(self, query: np.ndarray, limit: int,
                     excluded: list[int]) -> tuple[np.ndarray, np.ndarray]:
        import faiss

        params = faiss.SearchParametersHNSW()  # type: ignore[attr-defined]
        params.efSearch = max(HNSW_EF_SEARCH, limit)
        bitmap = None
        if self._dead or excluded:
            alive = self._alive[:self._size].copy()
            alive[excluded] = False
            bitmap = np.packbits(alive, bitorder="little")  # must outlive the search: faiss keeps a pointer
            params.sel = faiss.IDSelectorBitmap(self._size, faiss.swig_ptr(bitmap))
        scores, rows = self._hnsw.search(query.reshape(1, -1), limit, params=params)
        found = rows[0] >= 0
        del bitmap
        return rows[0][found], scores[0][found]

    # --- persistence --------------------------------------------------------------------------

    def save(self, directory: Path) -> None:
        """Write the index under `directory`; readers of the previous save are not disturbed."""
        import faiss

        directory.mkdir(parents=True, exist_ok=True)
        generation = uuid.uuid4().hex[:12]
        with self._lock:
            np.save(directory / f"vectors-{generation}.npy", np.ascontiguousarray(self._matrix[:self._size]))
            np.save(directory / f"alive-{generation}.npy", self._alive[:self._size])
            (directory / f"ids-{generation}.json").write_text(json.dumps(self._ids), encoding="utf-8")
            if self._hnsw is not None:
                faiss.write_index(self._hnsw, str(directory / f"hnsw-{generation}.faiss"))
            meta = {"format": FORMAT, "generation": generation, "dimension": self.dimension,
                    "rows": self._size, "count": len(self._rows), "hnsw": self._hnsw is not None,
                    "metadata": self.metadata}
        temporary = directory / f"{_META}.{generation}.tmp"
        temporary.write_text(json.dumps(meta), encoding="utf-8")
        os.replace(temporary, directory / _META)
        _remove_other_generations(directory, generation)

    @classmethod
    def load(cls, directory: Path, *, exact_max: int = DEFAULT_EXACT_MAX, mmap: bool = True) -> VectorIndex:
        """Load a saved index; with `mmap` the vectors are mapped, not read, until first changed."""
        import faiss

        meta = json.loads((directory / _META).read_text(encoding="utf-8"))
        if meta.get("format") != FORMAT:
            raise ValueError(f"{directory}: unknown vector index format {meta.get('format')!r}")
        generation = meta["generation"]
        index = cls(int(meta["dimension"]), exact_max=exact_max, metadata=meta.get("metadata"))
        matrix = np.load(directory / f"vectors-{generation}.npy", mmap_mode="r" if mmap else None)
        ids = json.loads((directory / f"ids-{generation}.json").read_text(encoding="utf-8"))
        alive = np.load(directory / f"alive-{generation}.npy")
        rows = meta["rows"]
        if matrix.shape != (rows, index.dimension) or len(ids) != rows or len(alive) != rows:
            raise ValueError(f"{directory}: index files of generation {generation} do not agree")
        index._reset(matrix, ids, alive)
        if meta["hnsw"]:
            index._hnsw = faiss.read_index(str(directory / f"hnsw-{generation}.faiss"))
        elif len(index) > exact_max:
            index._build_hnsw()
        return index

    # --- internals ----------------------------------------------------------------------------

    def _reset(self, matrix: np.ndarray, ids: list[str], alive: np.ndarray | None = None) -> None:
        self._matrix = matrix
        self._ids = ids
        self._size = len(ids)
        self._alive = np.ones(len(ids), dtype=bool) if alive is None else np.array(alive, dtype=bool)
        self._rows = {paper_id: row for row, paper_id in enumerate(ids) if self._alive[row]}
        self._dead = self._size - len(self._rows)
        self._hnsw: Any = None

    def _checked(self, matrix: np.ndarray, count: int) -> np.ndarray:
        matrix = np.asarray(matrix, dtype=np.float32)
        if matrix.ndim != 2 or matrix.shape != (count, self.dimension):
            raise ValueError(
                f"expected {count} vectors of {self.dimension} dimensions, got shape {matrix.shape}")
        return matrix

    def _kill(self, row: int) -> None:
        del self._rows[self._ids[row]]
        self._alive[row] = False
        self._dead += 1

    def _append(self, ids: list[str], vectors: np.ndarray) -> None:
        start, end = self._size, self._size + len(ids)
        if end > self._matrix.shape[0] or not self._matrix.flags.writeable:
            capacity = max(end, int(self._matrix.shape[0] * 1.5), 1024)
            self._matrix = _grown(self._matrix, self._size, capacity)
            self._alive = np.concatenate(
                [self._alive[:self._size], np.zeros(capacity - self._size, dtype=bool)])
        self._matrix[start:end] = vectors
        self._alive[start:end] = True
        self._ids.extend(ids)
        self._rows.update((paper_id, start + offset) for offset, paper_id in enumerate(ids))
        self._size = end
        if self._hnsw is not None:
            self._hnsw.add(np.ascontiguousarray(vectors))

    def _writable(self) -> np.ndarray:
        if not self._matrix.flags.writeable:  # a memory-mapped load: copy on first change
            self._matrix = _grown(self._matrix, self._size, self._size)
        return self._matrix

    def _maybe_reorganise(self) -> None:
        too_many_dead = self._dead > COMPACT_DEAD_FRACTION * self._size
        outgrew_exact = self._hnsw is None and len(self._rows) > self.exact_max
        if too_many_dead or outgrew_exact:
            self._compact()

    def _compact(self) -> None:
        """Drop tombstones; (re)build the graph when the index is over `exact_max`, else drop it."""
        keep = np.flatnonzero(self._alive[:self._size])
        self._reset(np.array(self._matrix[keep], dtype=np.float32), [self._ids[row] for row in keep])
        if len(keep) > self.exact_max:
            self._build_hnsw()

    def _build_hnsw(self) -> None:
        import faiss

        index = faiss.IndexHNSWFlat(self.dimension, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        index.hnsw.efSearch = HNSW_EF_SEARCH
        index.add(np.ascontiguousarray(self._matrix[:self._size]))
        self._hnsw = index


def _grown(matrix: np.ndarray, used: int, capacity: int) -> np.ndarray:
    grown = np.empty((capacity, matrix.shape[1]), dtype=np.float32)
    grown[:used] = matrix[:used]
    return grown


def _remove_other_generations(directory: Path, generation: str) -> None:
    for path in directory.iterdir():
        stem = path.name.split(".", 1)[0]
        if stem.rsplit("-", 1)[0] in ("vectors", "alive", "ids", "hnsw") and not stem.endswith(generation):
            path.unlink(missing_ok=True)
