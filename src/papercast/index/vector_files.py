"""The vector index on disk: a manifest (`meta.json`) naming a base segment and delta segments.

A save writes what changed since the previous one as a new segment (appended rows and their ids,
tombstones, similar-paper lists), then a new manifest; a compaction writes one base segment in
their place. Every file is written crash-safely and recorded in the manifest with its size and
CRC-32, so a deleted, truncated, zeroed or edited file is named when the index is loaded. The
files of the manifest before the current one are kept until the next publish, so a reader that
is still loading it finds them.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from papercast.index import durable
from papercast.index.durable import DamagedFiles

FORMAT = 2
MANIFEST = "meta.json"
NEIGHBOURS = 16  # similar papers kept per row
# Files up to this size are checked against their CRC-32 at every load; bigger ones (the vectors
# and graph of a large base) by size and format, and by CRC-32 only when asked (`verify`).
ALWAYS_CHECKSUM_BYTES = 64 * 2**20
_ARRAYS = {"dead": (np.int64, 1), "list_rows": (np.int64, 1), "lists": (np.int32, 2),
           "list_scores": (np.float32, 2), "list_sizes": (np.int64, 1)}


@dataclass
class SegmentData:
    """What one segment holds: rows appended from `start`, tombstones and similar-paper lists."""

    start: int
    ids: list[str]
    vectors: Sequence[np.ndarray]  # the appended rows, in parts (a base streams from memory maps)
    dead: np.ndarray  # rows removed
    list_rows: np.ndarray  # rows whose similar-paper lists this segment sets
    lists: np.ndarray  # their lists: (len(list_rows), NEIGHBOURS) rows
    list_scores: np.ndarray
    list_sizes: np.ndarray  # how many rows the index had when each list was computed

    @property
    def rows(self) -> int:
        return len(self.ids)


@dataclass(frozen=True)
class SegmentEntry:
    """A segment as the manifest names it."""

    name: str
    start: int
    rows: int
    files: dict[str, dict[str, int]]  # kind -> {"bytes", "crc32"}

    @property
    def size(self) -> int:
        return sum(info["bytes"] for info in self.files.values())

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "start": self.start, "rows": self.rows, "files": self.files}


@dataclass(frozen=True)
class Manifest:
    """One published state of the index: its segments in order, the base first."""

    generation: int
    dimension: int
    rows: int
    count: int
    metadata: dict[str, Any]
    segments: tuple[SegmentEntry, ...]
    graph: dict[str, Any] | None = None  # {"file", "rows", "bytes", "crc32"}: the HNSW graph of the base
    legacy: dict[str, Any] | None = field(default=None, compare=False)  # a format-1 meta.json

    @property
    def base(self) -> SegmentEntry:
        return self.segments[0]

    @property
    def deltas(self) -> tuple[SegmentEntry, ...]:
        return self.segments[1:]

    @property
    def file_names(self) -> set[str]:
        names = {f"{entry.name}.{kind}" for entry in self.segments for kind in entry.files}
        return names | ({self.graph["file"]} if self.graph else set())

    def as_json(self) -> dict[str, Any]:
        return {"format": FORMAT, "generation": self.generation, "dimension": self.dimension,
                "rows": self.rows, "count": self.count, "metadata": self.metadata, "graph": self.graph,
                "segments": [entry.as_json() for entry in self.segments]}


def read_manifest(directory: Path) -> Manifest | None:
    """The published manifest; None when there is none. Raises `DamagedFiles` for one that cannot
    be read or names files that do not agree with it."""
    path = directory / MANIFEST
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as error:
        raise DamagedFiles(f"{path}: cannot be read ({error.strerror or error})") from error
    try:
        meta = json.loads(raw)
        if meta.get("format") == 1:
            return _legacy_manifest(meta)
        if meta.get("format") != FORMAT:
            raise ValueError(f"unknown format {meta.get('format')!r}")
        segments = tuple(SegmentEntry(str(s["name"]), int(s["start"]), int(s["rows"]),
                                      {str(k): {"bytes": int(v["bytes"]), "crc32": int(v["crc32"])}
                                       for k, v in s["files"].items()}) for s in meta["segments"])
        manifest = Manifest(int(meta["generation"]), int(meta["dimension"]), int(meta["rows"]),
                            int(meta["count"]), dict(meta.get("metadata") or {}), segments, meta.get("graph"))
    except (ValueError, TypeError, KeyError, AttributeError) as error:
        raise DamagedFiles(f"{path}: not a vector index manifest ({error})") from error
    _check_layout(path, manifest)
    return manifest


def _check_layout(path: Path, manifest: Manifest) -> None:
    start = 0
    for entry in manifest.segments:
        if entry.start != start or entry.rows < 0:
            raise DamagedFiles(f"{path}: segment {entry.name} starts at row {entry.start}, expected {start}")
        start += entry.rows
    if not manifest.segments or start != manifest.rows or manifest.dimension < 1:
        raise DamagedFiles(f"{path}: its segments hold {start} rows, it says {manifest.rows}")


def _legacy_manifest(meta: dict[str, Any]) -> Manifest:
    """A format-1 index (one generation of whole files): loaded once, rewritten at the next save."""
    return Manifest(0, int(meta["dimension"]), int(meta["rows"]), int(meta.get("count", 0)),
                    dict(meta.get("metadata") or {}), (), None, legacy=meta)


def published_generation(directory: Path) -> str | None:
    """Which save is published in `directory` (each save publishes a new generation), cheaply:
    how processes that read the index see that the writer saved."""
    try:
        meta = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    generation = meta.get("generation") if isinstance(meta, dict) else None
    return str(generation) if generation else None


def new_segment_name(generation: int) -> str:
    return f"s{generation:08d}-{uuid.uuid4().hex[:8]}"


def write_segment(directory: Path, name: str, data: SegmentData, dimension: int) -> SegmentEntry:
    """Write a segment's files (only those it needs) crash-safely; its manifest entry."""
    files: dict[str, dict[str, int]] = {}
    if data.rows:
        files["vectors.npy"] = durable.write_array_parts(
            directory / f"{name}.vectors.npy", data.vectors, dimension).as_dict()
        files["ids.json"] = durable.write_json(directory / f"{name}.ids.json", data.ids).as_dict()
    for kind in _ARRAYS:
        array = getattr(data, kind)
        if len(array):
            files[f"{kind}.npy"] = durable.write_array(directory / f"{name}.{kind}.npy", array).as_dict()
    return SegmentEntry(name, data.start, data.rows, files)


def write_graph(directory: Path, name: str, graph: Any) -> dict[str, Any]:
    """Write a faiss graph crash-safely (streamed, never copied whole in memory)."""
    import faiss

    def produce(handle: Any) -> None:
        writer = faiss.PyCallbackIOWriter(handle.write)  # type: ignore[attr-defined]
        faiss.write_index(graph, writer)
        del writer  # flushes faiss's buffer into `handle`

    written = durable.write_file(directory / f"{name}.hnsw.faiss", produce)
    return {"file": written.name, "rows": int(graph.ntotal), **written.as_dict()}


def read_segment(directory: Path, entry: SegmentEntry, dimension: int, *, mmap: bool = True,
                 verify: bool = False) -> SegmentData:
    """A segment's contents, every file checked against the manifest (raises `DamagedFiles`)."""
    for kind, info in entry.files.items():
        check_file(directory / f"{entry.name}.{kind}", info, verify=verify)
    arrays = {kind: _read_array(directory, entry, kind, dtype, ndim)
              for kind, (dtype, ndim) in _ARRAYS.items()}
    vectors, ids = np.zeros((0, dimension), dtype=np.float32), []
    if entry.rows:
        vectors_path = directory / f"{entry.name}.vectors.npy"
        vectors = _load(vectors_path, mmap)
        ids = _read_ids(directory / f"{entry.name}.ids.json")
        if vectors.dtype != np.float32 or vectors.shape != (entry.rows, dimension) or len(ids) != entry.rows:
            raise DamagedFiles(f"{vectors_path}: holds {vectors.shape} {vectors.dtype} and {len(ids)} ids, "
                               f"the manifest says {entry.rows} rows of {dimension}")
    data = SegmentData(entry.start, ids, [vectors], **arrays)
    _check_lists(directory / entry.name, data)
    return data


def read_graph(directory: Path, graph: dict[str, Any], *, verify: bool = False) -> Any:
    import faiss

    path = directory / str(graph["file"])
    check_file(path, graph, verify=verify)
    try:
        index = faiss.read_index(str(path))
    except RuntimeError as error:  # faiss reports a damaged file as a RuntimeError
        raise DamagedFiles(f"{path}: not a faiss index ({str(error).splitlines()[0]})") from error
    if index.ntotal != int(graph["rows"]):
        raise DamagedFiles(f"{path}: holds {index.ntotal} rows, the manifest says {graph['rows']}")
    return index


def check_file(path: Path, info: dict[str, Any], *, verify: bool = False) -> None:
    """Raise `DamagedFiles` when `path` is missing, of another size, or (checked when small or
    asked) of another CRC-32 than the manifest records."""
    try:
        size = path.stat().st_size
    except FileNotFoundError as error:
        raise DamagedFiles(f"{path}: missing") from error
    if size != int(info["bytes"]):
        raise DamagedFiles(f"{path}: {size} bytes, the manifest says {info['bytes']} (truncated or replaced)")
    if (verify or size <= ALWAYS_CHECKSUM_BYTES) and durable.file_crc32(path) != int(info["crc32"]):
        raise DamagedFiles(f"{path}: its checksum does not match (the file was damaged)")


def _read_array(directory: Path, entry: SegmentEntry, kind: str, dtype: Any, ndim: int) -> np.ndarray:
    if f"{kind}.npy" not in entry.files:
        shape = (0, NEIGHBOURS) if ndim == 2 else (0,)
        return np.zeros(shape, dtype=dtype)
    path = directory / f"{entry.name}.{kind}.npy"
    array = _load(path, mmap=False)
    if array.dtype != dtype or array.ndim != ndim or (ndim == 2 and array.shape[1] != NEIGHBOURS):
        raise DamagedFiles(f"{path}: holds {array.shape} {array.dtype}, not {np.dtype(dtype).name} rows")
    return array


def _load(path: Path, mmap: bool) -> np.ndarray:
    try:
        array: np.ndarray = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (OSError, ValueError, EOFError) as error:
        raise DamagedFiles(f"{path}: not a readable array ({error})") from error
    return array


def _read_ids(path: Path) -> list[str]:
    try:
        ids = json.loads(path.read_bytes())
    except (OSError, ValueError) as error:
        raise DamagedFiles(f"{path}: not a JSON list of ids ({error})") from error
    if not isinstance(ids, list) or not all(isinstance(paper_id, str) and paper_id for paper_id in ids):
        raise DamagedFiles(f"{path}: not a JSON list of paper ids")
    return ids


def _check_lists(where: Path, data: SegmentData) -> None:
    end = data.start + data.rows
    count = len(data.list_rows)
    if data.lists.shape[0] != count or data.list_scores.shape != data.lists.shape \
            or len(data.list_sizes) != count:
        raise DamagedFiles(f"{where}: its similar-paper files do not agree in length")
    checks = (("dead", data.dead, 0), ("list_rows", data.list_rows, 0), ("lists", data.lists, -2))
    for name, array, low in checks:
        if len(array) and (int(array.min()) < low or int(array.max()) >= end):
            raise DamagedFiles(f"{where}.{name}.npy: names rows outside 0..{end - 1}")


def merge(segments: Sequence[SegmentData]) -> SegmentData:
    """Consecutive segments as one: rows appended in order, every tombstone, the last list of a row."""
    list_rows = np.concatenate([s.list_rows for s in segments])
    last = len(list_rows) - 1 - np.unique(list_rows[::-1], return_index=True)[1]  # last setting of each row

    def lists(kind: str) -> np.ndarray:
        return np.concatenate([getattr(s, kind) for s in segments])[last]

    return SegmentData(
        start=segments[0].start, ids=[paper_id for s in segments for paper_id in s.ids],
        vectors=[part for s in segments for part in s.vectors],
        dead=np.unique(np.concatenate([s.dead for s in segments])), list_rows=list_rows[last],
        lists=lists("lists"), list_scores=lists("list_scores"), list_sizes=lists("list_sizes"))


def publish(directory: Path, manifest: Manifest, previous: Manifest | None) -> int:
    """Make `manifest` current (crash-safely, last), then delete every file that neither it nor
    `previous` names; returns the manifest's size in bytes."""
    written = durable.write_json(directory / MANIFEST, manifest.as_json())
    keep = manifest.file_names | (previous.file_names if previous is not None else set()) | {MANIFEST}
    removed = False
    for path in directory.iterdir():
        if path.is_file() and path.name not in keep and not path.name.endswith(durable.TEMPORARY_SUFFIX):
            path.unlink(missing_ok=True)
            removed = True
    if removed:
        durable.fsync_directory(directory)
    return written.size
