"""Nearest-neighbour search over paper vectors: exact numpy up to a size, faiss HNSW beyond it.

Vectors are L2-normalised, so the inner product is the cosine. Rows are append-only
(`index.rows`): an upserted id that the index holds, and every removed id, leaves a tombstone
that searches skip, and the rows (and graph) are compacted once tombstones pass a quarter of
them. The HNSW graph may trail the rows (a loaded index whose graph was saved before its last
rows, rows the writer is still adding); the rows beyond it are searched exactly.

Saved as segments (`index.vector_files`): a save writes only what changed since the previous one,
as a new delta segment, and the deltas are merged once there are many, or rewritten with the base
once they cost a quarter of it (or, with a graph, pass `GRAPH_TAIL_ROWS` rows). A save holds the
lock that searches take only to copy what it writes; the disk writes happen outside it. Another
process that loaded the same directory applies new delta segments instead of loading everything.

Each paper's `NEIGHBOURS` nearest papers ("similar papers") are precomputed by the index's
writer (`refresh_neighbours`, in blocks, exactly below `exact_max` and through the HNSW graph
above it) and saved with the index, so a paper page reads a list instead of scanning every
vector. A row remembers how many rows the index had when its list was computed; a row added
later is merged into the lists of the neighbours it found, so new papers join older papers'
lists without recomputing them. Removed rows are skipped when a list is read.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from papercast.index import durable, vector_files
from papercast.index.durable import DamagedFiles
from papercast.index.rows import RowMatrix, RowSnapshot
from papercast.index.vector_files import NEIGHBOURS, Manifest, SegmentData

DEFAULT_EXACT_MAX = 300_000
HNSW_M = 32
# 64 builds in half the time of 128 at the same recall on clustered 384-d data (0.995 vs 0.997 at 20k).
HNSW_EF_CONSTRUCTION = 64
HNSW_EF_SEARCH = 128
COMPACT_DEAD_FRACTION = 0.25
NEIGHBOUR_BLOCK_CELLS = 1 << 24  # rows x index size scored at once (64 MiB of float32)
GRAPH_CHUNK = 64  # rows added to the HNSW graph per hold of the search lock: a search waits for few
# Delta segments: merged into one past this many; the base is rewritten once they cost this
# share of it, or once a graph's saved base lacks this many rows (searched exactly on load).
MAX_DELTA_SEGMENTS = 8
COMPACT_DELTA_FRACTION = 0.25
GRAPH_TAIL_ROWS = 20_000
_EMPTY, _REMOVED = -1, -2  # a list slot with no paper (small index); one whose paper was compacted away


@dataclass(frozen=True)
class SaveReport:
    """What one save wrote: `kind` is "delta", "merge" (the deltas merged into one) or "base"."""

    kind: str
    bytes_written: int
    seconds: float
    rows: int
    segments: int

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "bytes_written": self.bytes_written, "seconds": round(self.seconds, 3),
                "rows": self.rows, "segments": self.segments}


@dataclass(frozen=True)
class _Persisted:
    """Which published manifest this index's saved rows and row numbers match."""

    directory: Path
    manifest: Manifest
    layout: int


class VectorIndex:
    """Ids and their vectors, searchable by inner product; safe to share between threads.

    Searches take `_lock` briefly; changes and saves also hold `_changing` throughout, so one runs
    at a time while searches go on (a save writes to disk without holding `_lock`)."""

    _hnsw: Any  # the faiss graph over rows 0..ntotal, or None (exact search)
    _unsaved_dead: list[int]  # tombstones and lists changed since the last save
    _unsaved_lists: set[int]

    def __init__(self, dimension: int, *, exact_max: int = DEFAULT_EXACT_MAX,
                 metadata: dict[str, Any] | None = None) -> None:
        if dimension < 1:
            raise ValueError("dimension must be positive")
        self.dimension = dimension
        self.exact_max = exact_max
        self.metadata: dict[str, Any] = dict(metadata or {})  # saved with the index (model id, sequence)
        self._lock = threading.RLock()
        self._changing = threading.RLock()
        self._persisted: _Persisted | None = None
        self._layout = 0  # bumped whenever row numbers change
        self._reset(RowMatrix(dimension), [])

    # --- contents -----------------------------------------------------------------------------

    def build(self, ids: Sequence[str], matrix: np.ndarray) -> None:
        """Replace the contents with `ids` and their rows of `matrix` (HNSW when over `exact_max`)."""
        matrix = self._checked(matrix, len(ids))
        if len(set(ids)) != len(ids):
            raise ValueError("ids passed to build must be unique")
        with self._changing, self._lock:
            self._reset(RowMatrix(self.dimension, [np.array(matrix, dtype=np.float32, copy=True)]), list(ids))
            if len(ids) > self.exact_max:
                self._build_hnsw()

    def upsert(self, ids: Sequence[str], vectors: np.ndarray) -> None:
        """Add vectors; an id already present gets the new vector (the last one wins in a batch)."""
        vectors = self._checked(vectors, len(ids))
        latest = {paper_id: position for position, paper_id in enumerate(ids)}
        with self._changing:
            with self._lock:
                for paper_id in latest:
                    row = self._rows.get(paper_id)
                    if row is not None:
                        self._kill(row)  # rows never change: the old one becomes a tombstone
                self._append(list(latest), vectors[list(latest.values())])
                self._maybe_reorganise()
            self._extend_graph()

    def remove(self, ids: Iterable[str]) -> int:
        """Remove ids (unknown ones are ignored); returns how many were present."""
        with self._changing, self._lock:
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
    def problem(self) -> str | None:
        """Why searches find nothing although vectors exist: never, for a loaded index."""
        return None

    @property
    def uses_hnsw(self) -> bool:
        return self._hnsw is not None

    def vector(self, paper_id: str) -> np.ndarray | None:
        """The stored vector of `paper_id` (a copy), for "more like this" queries."""
        with self._lock:
            row = self._rows.get(paper_id)
            return None if row is None else self._matrix.snapshot().take([row])[0]

    def vectors(self, paper_ids: Sequence[str]) -> tuple[list[str], np.ndarray]:
        """The ids of `paper_ids` that the index holds, in order, and their vectors as rows."""
        with self._lock:
            found = [(paper_id, row) for paper_id in paper_ids
                     if (row := self._rows.get(paper_id)) is not None]
            rows = np.fromiter((row for _, row in found), dtype=np.int64, count=len(found))
            return [paper_id for paper_id, _ in found], self._matrix.snapshot().take(rows)

    # --- precomputed similar papers ----------------------------------------------------------

    def neighbours(self, paper_id: str, limit: int) -> list[tuple[str, float]] | None:
        """The precomputed nearest papers of `paper_id`, best first; None when there is no list
        yet or it cannot fill `limit` (the caller then searches)."""
        with self._lock:
            row = self._rows.get(paper_id)
            if row is None or row >= len(self._nbr_size) or self._nbr_size[row] < 0:
                return None
            rows, scores = self._nbr[row], self._nbr_scores[row]
            complete = bool((rows == _EMPTY).any())  # the index had fewer rows than a full list
            found = []
            for position in np.argsort(-scores, kind="stable"):
                other = int(rows[position])
                if other < 0:
                    complete = complete and other == _EMPTY
                    continue
                if not self._alive[other] or other == row:
                    complete = False
                    continue
                found.append((self._ids[other], float(scores[position])))
            if len(found) >= limit or complete:
                return found[:limit]
            return None

    def pending_neighbours(self) -> int:
        """Rows whose similar papers are not computed yet."""
        with self._lock:
            return int((self._alive[:self._size] & (self._nbr_size[:self._size] < 0)).sum())

    def refresh_neighbours(self, max_rows: int | None = None) -> int:
        """Compute the similar papers of rows that have none (at most `max_rows`); returns how many.

        Exact scoring runs outside the search lock, block by block, so searches go on meanwhile;
        the HNSW graph is searched under it, in small blocks."""
        with self._changing:
            self._extend_graph()
            done = 0
            while max_rows is None or done < max_rows:
                with self._lock:
                    size = self._size
                    pending = np.flatnonzero(self._alive[:size] & (self._nbr_size[:size] < 0))
                    block = 256 if self._hnsw is not None else \
                        max(1, min(1024, NEIGHBOUR_BLOCK_CELLS // max(size, 1)))
                    if max_rows is not None:
                        block = min(block, max_rows - done)
                    rows = pending[:block]
                    if not len(rows):
                        return done
                    snapshot, alive, hnsw = self._matrix.snapshot(), self._alive[:size].copy(), self._hnsw
                    if hnsw is not None:  # a faiss graph must not be searched while it grows
                        found_rows, found_scores = _nearest(snapshot, alive, hnsw, rows)
                if hnsw is None:
                    found_rows, found_scores = _nearest(snapshot, alive, None, rows)
                with self._lock:
                    self._nbr[rows] = found_rows
                    self._nbr_scores[rows] = found_scores
                    self._nbr_size[rows] = size
                    self._unsaved_lists.update(rows.tolist())
                    self._merge_into_older_lists(rows, found_rows, found_scores)
                done += len(rows)
            return done

    def _merge_into_older_lists(self, rows: np.ndarray, found_rows: np.ndarray,
                                found_scores: np.ndarray) -> None:
        """Offer each new row to the lists of its neighbours that were computed before it existed."""
        for new_row, others, scores in zip(rows.tolist(), found_rows, found_scores, strict=True):
            for other, score in zip(others.tolist(), scores.tolist(), strict=True):
                if other < 0 or self._nbr_size[other] < 0 or new_row < self._nbr_size[other]:
                    continue
                current = self._nbr[other]
                if (current == new_row).any():
                    continue
                weakest = int(np.argmin(np.where(current < 0, -np.inf, self._nbr_scores[other])))
                if current[weakest] < 0 or score > self._nbr_scores[other, weakest]:
                    current[weakest] = new_row
                    self._nbr_scores[other, weakest] = score
                    self._unsaved_lists.add(other)

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

    def _search_exact(self, query: np.ndarray, limit: int, excluded: list[int],
                      start: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """The best rows from `start` on, by a scan of every row."""
        scores = self._matrix.snapshot().scores(query, start)
        scores[~self._alive[start:self._size]] = -np.inf
        scores[[row - start for row in excluded if row >= start]] = -np.inf
        count = len(scores)
        top = np.argpartition(-scores, limit - 1)[:limit] if limit < count else np.arange(count)
        top = top[np.isfinite(scores[top])]
        order = np.lexsort((top, -scores[top]))[:limit]  # by score, then row, so ties are stable
        return top[order] + start, scores[top[order]]

    def _search_hnsw(self, query: np.ndarray, limit: int,
                     excluded: list[int]) -> tuple[np.ndarray, np.ndarray]:
        import faiss

        graph_rows = self._hnsw.ntotal
        params = faiss.SearchParametersHNSW()  # type: ignore[attr-defined]
        params.efSearch = max(HNSW_EF_SEARCH, limit)
        bitmap = None
        if self._dead or excluded:
            alive = self._alive[:graph_rows].copy()
            alive[[row for row in excluded if row < graph_rows]] = False
            bitmap = np.packbits(alive, bitorder="little")  # must outlive the search: faiss keeps a pointer
            params.sel = faiss.IDSelectorBitmap(graph_rows, faiss.swig_ptr(bitmap))
        scores, rows = self._hnsw.search(query.reshape(1, -1), limit, params=params)
        found = rows[0] >= 0
        del bitmap
        rows, scores = rows[0][found], scores[0][found]
        if self._size > graph_rows:  # rows the graph does not hold yet
            tail_rows, tail_scores = self._search_exact(query, min(limit, self._size - graph_rows),
                                                        excluded, start=graph_rows)
            rows, scores = np.concatenate([rows, tail_rows]), np.concatenate([scores, tail_scores])
            order = np.lexsort((rows, -scores))[:limit]
            rows, scores = rows[order], scores[order]
        return rows, scores

    # --- persistence --------------------------------------------------------------------------

    def save(self, directory: Path) -> SaveReport:
        """Publish the index under `directory`: a delta segment of what changed since the last save
        there, or the whole index when there is none to extend (or compaction is due). Readers of
        the previous manifest are not disturbed; searches go on while the files are written."""
        started = time.perf_counter()
        with self._changing:
            directory.mkdir(parents=True, exist_ok=True)
            durable.remove_temporaries(directory)
            previous = _published(directory)
            generation = (previous.generation if previous is not None else 0) + 1
            try:
                if self._can_extend(directory, previous) and not self._compaction_due(previous):
                    assert previous is not None
                    manifest, written, kind = self._save_delta(directory, previous, generation)
                else:
                    manifest, written, kind = self._save_base(directory, generation)
                written += vector_files.publish(directory, manifest, previous)
            except BaseException:
                self._persisted = None  # what was not saved is in no segment: the next save writes all
                raise
            self._persisted = _Persisted(directory, manifest, self._layout)
        return SaveReport(kind, written, time.perf_counter() - started, manifest.rows, len(manifest.segments))

    def saved_in(self, directory: Path) -> bool:
        """Whether this index's rows are the ones last saved in `directory`, so that a save there
        need only add what changed (False after a load of an older format, or of an index whose
        graph was not saved)."""
        persisted = self._persisted
        return persisted is not None and persisted.directory == directory and persisted.layout == self._layout

    def _can_extend(self, directory: Path, published: Manifest | None) -> bool:
        persisted = self._persisted
        return (persisted is not None and published is not None and persisted.directory == directory
                and persisted.manifest == published and persisted.layout == self._layout)

    def _compaction_due(self, published: Manifest | None) -> bool:
        if published is None:
            return True
        base_bytes = published.base.size + (int(published.graph["bytes"]) if published.graph else 0)
        unsaved_rows = self._size - published.rows
        delta_bytes = sum(entry.size for entry in published.deltas) + unsaved_rows * self.dimension * 4
        if delta_bytes > COMPACT_DELTA_FRACTION * base_bytes:
            return True
        graph_rows = int(published.graph["rows"]) if published.graph else 0
        return self._hnsw is not None and self._size - graph_rows > GRAPH_TAIL_ROWS

    def _save_delta(self, directory: Path, previous: Manifest,
                    generation: int) -> tuple[Manifest, int, str]:
        with self._lock:
            data = self._changes_since(previous.rows)
            count, metadata = len(self._rows), dict(self.metadata)
        kind, segments = "delta", list(previous.segments)
        if len(previous.deltas) >= MAX_DELTA_SEGMENTS:
            older = [vector_files.read_segment(directory, entry, self.dimension) for entry in previous.deltas]
            data = vector_files.merge([*older, data])
            kind, segments = "merge", [previous.base]
        written = 0
        if data.rows or len(data.dead) or len(data.list_rows):
            entry = vector_files.write_segment(directory, vector_files.new_segment_name(generation), data,
                                               self.dimension)
            segments.append(entry)
            written = entry.size
        manifest = Manifest(generation, self.dimension, data.start + data.rows, count, metadata,
                            tuple(segments), previous.graph)
        return manifest, written, kind

    def _save_base(self, directory: Path, generation: int) -> tuple[Manifest, int, str]:
        with self._lock:
            data = self._everything()
            count, metadata, graph = len(self._rows), dict(self.metadata), self._hnsw
        name = vector_files.new_segment_name(generation)
        entry = vector_files.write_segment(directory, name, data, self.dimension)
        # The graph is written outside the search lock: only changes (excluded by `_changing`) alter it.
        graph_file = vector_files.write_graph(directory, name, graph) if graph is not None else None
        manifest = Manifest(generation, self.dimension, data.rows, count, metadata, (entry,), graph_file)
        return manifest, entry.size + (int(graph_file["bytes"]) if graph_file else 0), "base"

    def _changes_since(self, saved_rows: int) -> SegmentData:
        """Rows appended since `saved_rows`, tombstones and lists set since the last save (under `_lock`)."""
        snapshot, size = self._matrix.snapshot(), self._size
        list_rows = np.array(sorted(self._unsaved_lists), dtype=np.int64)
        data = SegmentData(
            start=saved_rows, ids=self._ids[saved_rows:size],
            vectors=[snapshot.take(np.arange(saved_rows, size))] if size > saved_rows else [],
            dead=np.unique(np.array(self._unsaved_dead, dtype=np.int64)), list_rows=list_rows,
            lists=self._nbr[list_rows], list_scores=self._nbr_scores[list_rows],
            list_sizes=self._nbr_size[list_rows])
        self._unsaved_dead, self._unsaved_lists = [], set()
        return data

    def _everything(self) -> SegmentData:
        """The whole index as one segment (under `_lock`; the rows are shared, not copied)."""
        size = self._size
        list_rows = np.flatnonzero(self._nbr_size[:size] >= 0)
        data = SegmentData(
            start=0, ids=self._ids[:size], vectors=self._matrix.snapshot().parts,
            dead=np.flatnonzero(~self._alive[:size]), list_rows=list_rows, lists=self._nbr[list_rows],
            list_scores=self._nbr_scores[list_rows], list_sizes=self._nbr_size[list_rows])
        self._unsaved_dead, self._unsaved_lists = [], set()
        return data

    @classmethod
    def load(cls, directory: Path, *, exact_max: int = DEFAULT_EXACT_MAX, mmap: bool = True,
             verify: bool = False) -> VectorIndex:
        """Load a saved index (its rows memory-mapped with `mmap`); raises `DamagedFiles` naming the
        file when the files do not agree with the manifest. `verify` checksums even large files."""
        manifest = vector_files.read_manifest(directory)
        if manifest is None:
            raise DamagedFiles(f"{directory / vector_files.MANIFEST}: missing")
        if manifest.legacy is not None:
            return _load_format_1(cls, directory, manifest.legacy, exact_max, mmap)
        index = cls(manifest.dimension, exact_max=exact_max, metadata=manifest.metadata)
        segments = [vector_files.read_segment(directory, entry, manifest.dimension, mmap=mmap, verify=verify)
                    for entry in manifest.segments]
        graph = vector_files.read_graph(directory, manifest.graph, verify=verify) if manifest.graph else None
        index._restore(directory, segments, graph, manifest)
        if graph is None and len(index) > exact_max:
            index._build_hnsw()
            index._persisted = None  # the graph is not on disk: the next save writes it
        return index

    def _restore(self, directory: Path, segments: list[SegmentData], graph: Any, manifest: Manifest) -> None:
        self._reset(RowMatrix(self.dimension, [part for s in segments for part in s.vectors]),
                    [paper_id for s in segments for paper_id in s.ids])
        for segment in segments:  # in order: a later list of a row replaces an earlier one
            self._alive[segment.dead] = False
            self._set_lists(segment)
        self._rows = {self._ids[row]: row for row in np.flatnonzero(self._alive[:self._size]).tolist()}
        self._dead = self._size - len(self._rows)
        where = directory / vector_files.MANIFEST
        if len(self._rows) != manifest.count:
            raise DamagedFiles(f"{where}: {len(self._rows)} distinct live rows, "
                               f"the manifest says {manifest.count}")
        if graph is not None and (graph.d != self.dimension or graph.ntotal > self._size):
            raise DamagedFiles(f"{where}: its graph does not fit the rows")
        self._hnsw = graph
        self._persisted = _Persisted(directory, manifest, self._layout)

    def update_from(self, directory: Path) -> bool:
        """Apply the delta segments published under `directory` since this index was loaded from it;
        False when that cannot be done (a new base, another index): load it afresh instead. For
        processes that only read the index a writer keeps."""
        persisted = self._persisted
        manifest = vector_files.read_manifest(directory)
        if (persisted is None or manifest is None or manifest.legacy is not None
                or persisted.directory != directory or manifest.dimension != self.dimension
                or manifest.base != persisted.manifest.base or manifest.rows < persisted.manifest.rows):
            return False
        if manifest.generation == persisted.manifest.generation:
            return True
        applied = {entry.name for entry in persisted.manifest.deltas}  # segments never change once named
        segments = [vector_files.read_segment(directory, entry, self.dimension)
                    for entry in manifest.deltas if entry.name not in applied]
        with self._changing, self._lock:
            for segment in segments:
                self._replay(segment)
            self.metadata = dict(manifest.metadata)
            self._unsaved_dead, self._unsaved_lists = [], set()
            self._persisted = _Persisted(directory, manifest, self._layout)
        return True

    def _replay(self, segment: SegmentData) -> None:
        """Apply a delta segment that may repeat rows, tombstones and lists this index has."""
        overlap = max(0, min(segment.rows, self._size - segment.start))
        if self._ids[segment.start:segment.start + overlap] != segment.ids[:overlap]:
            raise DamagedFiles(f"a delta segment disagrees with rows {segment.start}.. already loaded")
        if overlap < segment.rows:
            fresh = RowSnapshot(segment.vectors, self.dimension).take(np.arange(overlap, segment.rows))
            self._append(segment.ids[overlap:], fresh)
        for row in segment.dead.tolist():
            if self._alive[row]:
                self._kill(row)
        self._set_lists(segment)

    def _set_lists(self, segment: SegmentData) -> None:
        rows = segment.list_rows
        self._nbr[rows], self._nbr_scores[rows], self._nbr_size[rows] = (
            segment.lists, segment.list_scores, segment.list_sizes)

    # --- internals ----------------------------------------------------------------------------

    def _reset(self, matrix: RowMatrix, ids: list[str]) -> None:
        self._matrix = matrix
        self._ids = ids
        self._size = len(ids)
        self._alive = np.ones(len(ids), dtype=bool)
        self._rows = {paper_id: row for row, paper_id in enumerate(ids)}
        self._dead = 0
        self._hnsw = None
        self._nbr = np.full((len(ids), NEIGHBOURS), -1, dtype=np.int32)
        self._nbr_scores = np.full((len(ids), NEIGHBOURS), -np.inf, dtype=np.float32)
        self._nbr_size = np.full(len(ids), -1, dtype=np.int64)  # index size when computed; -1: none
        self._unsaved_dead, self._unsaved_lists = [], set()
        self._layout += 1

    def _checked(self, matrix: np.ndarray, count: int) -> np.ndarray:
        matrix = np.asarray(matrix, dtype=np.float32)
        if matrix.ndim != 2 or matrix.shape != (count, self.dimension):
            raise ValueError(
                f"expected {count} vectors of {self.dimension} dimensions, got shape {matrix.shape}")
        return matrix

    def _kill(self, row: int) -> None:
        if self._rows.get(self._ids[row]) == row:  # a replayed delta may have appended its successor
            del self._rows[self._ids[row]]
        self._alive[row] = False
        self._dead += 1
        self._unsaved_dead.append(row)

    def _append(self, ids: list[str], vectors: np.ndarray) -> None:
        start, end = self._size, self._size + len(ids)
        if end > len(self._alive):
            capacity = max(end, int(len(self._alive) * 1.5), 1024)
            self._alive = _grown_rows(self._alive, self._size, capacity, False)
            self._nbr = _grown_rows(self._nbr, self._size, capacity, -1)
            self._nbr_scores = _grown_rows(self._nbr_scores, self._size, capacity, -np.inf)
            self._nbr_size = _grown_rows(self._nbr_size, self._size, capacity, -1)
        self._matrix.append(vectors)
        self._alive[start:end] = True
        self._ids.extend(ids)
        self._rows.update((paper_id, start + offset) for offset, paper_id in enumerate(ids))
        self._size = end

    def _extend_graph(self) -> None:
        """Add the rows the HNSW graph lacks, a chunk per hold of the lock, so searches go on."""
        while True:
            with self._lock:
                graph = self._hnsw
                if graph is None or graph.ntotal >= self._size:
                    return
                start = graph.ntotal
                rows = np.arange(start, min(self._size, start + GRAPH_CHUNK))
                graph.add(np.ascontiguousarray(self._matrix.snapshot().take(rows)))

    def _maybe_reorganise(self) -> None:
        too_many_dead = self._dead > COMPACT_DEAD_FRACTION * self._size
        outgrew_exact = self._hnsw is None and len(self._rows) > self.exact_max
        if too_many_dead or outgrew_exact:
            self._compact()

    def _compact(self) -> None:
        """Drop tombstones; (re)build the graph when the index is over `exact_max`, else drop it."""
        keep = np.flatnonzero(self._alive[:self._size])
        nbr, scores, sizes = self._nbr[keep], self._nbr_scores[keep], self._nbr_size[keep]
        renumber = np.full(self._size + 1, _REMOVED, dtype=np.int32)  # old row -> new row
        renumber[-1] = _EMPTY  # an empty slot (-1) stays empty
        renumber[keep] = np.arange(len(keep), dtype=np.int32)
        kept = self._matrix.snapshot().take(keep)
        self._reset(RowMatrix(self.dimension, [kept]), [self._ids[row] for row in keep])
        self._nbr, self._nbr_scores = renumber[nbr], scores
        # "computed when the index had n rows" becomes "... had the kept rows below n"
        self._nbr_size = np.where(sizes < 0, -1, np.searchsorted(keep, np.maximum(sizes, 0)))
        if len(keep) > self.exact_max:
            self._build_hnsw()

    def _build_hnsw(self) -> None:
        import faiss

        index = faiss.IndexHNSWFlat(self.dimension, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        index.hnsw.efSearch = HNSW_EF_SEARCH
        index.add(np.ascontiguousarray(self._matrix.snapshot().contiguous()))
        self._hnsw = index


def _published(directory: Path) -> Manifest | None:
    """The manifest a save builds on; None (write everything) when there is none or it is damaged."""
    try:
        return vector_files.read_manifest(directory)
    except DamagedFiles:
        return None


def _nearest(snapshot: RowSnapshot, alive: np.ndarray, hnsw: Any,
             rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The `NEIGHBOURS` nearest live rows of each of `rows` (itself excluded): rows and scores,
    -1 and -inf where there are fewer. Through the graph for the rows it holds, exactly beyond."""
    size = snapshot.size
    queries = snapshot.take(rows)
    graph_rows = hnsw.ntotal if hnsw is not None else 0
    candidates, scores = [], []
    if hnsw is not None:
        found_scores, found = hnsw.search(queries, 2 * NEIGHBOURS)
        candidates.append(found.astype(np.int64))
        scores.append(found_scores)
    if size > graph_rows:
        exact = snapshot.scores(queries, graph_rows).T  # (len(rows), size - graph_rows)
        exact[:, ~alive[graph_rows:size]] = -np.inf
        count = min(NEIGHBOURS + 1, exact.shape[1])  # one more: the row itself may be among them
        top = np.argpartition(-exact, count - 1, axis=1)[:, :count] if count < exact.shape[1] else \
            np.tile(np.arange(exact.shape[1]), (len(rows), 1))
        candidates.append(top + graph_rows)
        scores.append(np.take_along_axis(exact, top, axis=1))
    candidate_rows, candidate_scores = np.concatenate(candidates, axis=1), np.concatenate(scores, axis=1)
    valid = (candidate_rows >= 0) & (candidate_rows < size) & (candidate_rows != rows[:, None])
    valid &= alive[np.clip(candidate_rows, 0, size - 1)]
    candidate_scores = np.where(valid, candidate_scores, -np.inf).astype(np.float32)
    order = np.argsort(-candidate_scores, axis=1, kind="stable")[:, :NEIGHBOURS]
    best_scores = np.take_along_axis(candidate_scores, order, axis=1)
    best_rows = np.where(np.isfinite(best_scores), np.take_along_axis(candidate_rows, order, axis=1), -1)
    found_rows = np.full((len(rows), NEIGHBOURS), -1, dtype=np.int32)
    found_scores = np.full((len(rows), NEIGHBOURS), -np.inf, dtype=np.float32)
    found_rows[:, :best_rows.shape[1]] = best_rows
    found_scores[:, :best_scores.shape[1]] = best_scores
    return found_rows, found_scores


def _grown_rows(array: np.ndarray, used: int, capacity: int, fill: float) -> np.ndarray:
    grown = np.full((capacity, *array.shape[1:]), fill, dtype=array.dtype)
    grown[:used] = array[:used]
    return grown


def _load_format_1(cls: type[VectorIndex], directory: Path, meta: dict[str, Any], exact_max: int,
                   mmap: bool) -> VectorIndex:
    """An index saved whole by an earlier version (one generation of files); the next save
    rewrites it as segments."""
    import faiss

    generation = meta["generation"]
    index = cls(int(meta["dimension"]), exact_max=exact_max, metadata=meta.get("metadata"))
    try:
        matrix = np.load(directory / f"vectors-{generation}.npy", mmap_mode="r" if mmap else None)
        ids = json.loads((directory / f"ids-{generation}.json").read_text(encoding="utf-8"))
        alive = np.load(directory / f"alive-{generation}.npy")
        list_paths = [directory / f"{name}-{generation}.npy" for name in ("neighbours", "nscores", "nsize")]
        # saves older still had no similar-paper lists: all are computed again
        lists = [np.load(path) for path in list_paths] if all(p.exists() for p in list_paths) else []
        graph = faiss.read_index(str(directory / f"hnsw-{generation}.faiss")) if meta["hnsw"] else None
    except (OSError, ValueError, RuntimeError) as error:
        raise DamagedFiles(f"{directory}: generation {generation} cannot be read ({error})") from error
    rows = int(meta["rows"])
    if matrix.shape != (rows, index.dimension) or len(ids) != rows or len(alive) != rows \
            or any(len(array) != rows for array in lists):
        raise DamagedFiles(f"{directory}: index files of generation {generation} do not agree")
    index._reset(RowMatrix(index.dimension, [matrix]), list(ids))
    index._alive[:] = np.asarray(alive, dtype=bool)
    index._rows = {index._ids[row]: row for row in np.flatnonzero(index._alive).tolist()}
    index._dead = rows - len(index._rows)
    if lists:
        index._nbr, index._nbr_scores, index._nbr_size = (lists[0].astype(np.int32), lists[1],
                                                           lists[2].astype(np.int64))
    index._hnsw = graph
    if graph is None and len(index) > exact_max:
        index._build_hnsw()
    return index
