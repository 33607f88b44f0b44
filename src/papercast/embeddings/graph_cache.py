"""Built ONNX graphs kept on disk, written crash-safely and trusted only when their manifest (same
key, size and sha256) vouches for them; builders take a lock file, so many processes build once.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

MANIFEST_FORMAT = 1
_LOCK_FILE = ".build.lock"
_TEMPORARY_MARK = ".tmp-"

log = logging.getLogger("papercast.embeddings")


@dataclass(frozen=True)
class GraphKey:
    """What a built graph depends on: the recipe and its precision, the model's weights, the
    versions of the libraries that export, fuse and quantize it. Any change means a new graph."""

    precision: str
    recipe: int
    model_sha256: str
    versions: Mapping[str, str]

    @property
    def name(self) -> str:
        described = json.dumps({"recipe": self.recipe, "versions": dict(sorted(self.versions.items()))},
                               sort_keys=True)
        fingerprint = hashlib.sha256(described.encode("utf-8")).hexdigest()[:12]
        return f"minilm-{self.precision}-{self.model_sha256[:8]}-{fingerprint}"

    def describe(self) -> dict[str, object]:
        return {"precision": self.precision, "recipe": self.recipe, "model_sha256": self.model_sha256,
                "versions": dict(sorted(self.versions.items()))}


class GraphCache:
    """One directory of graphs, `<key name>.onnx` beside `<key name>.json` (its manifest).

    Each file is written to a temporary name, fsynced, renamed and the directory fsynced, the
    manifest last: a crash leaves a graph without a manifest, never a manifest for half a graph.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def graph_path(self, key: GraphKey) -> Path:
        return self.directory / f"{key.name}.onnx"

    def manifest_path(self, key: GraphKey) -> Path:
        return self.directory / f"{key.name}.json"

    def verified(self, key: GraphKey) -> Path | None:
        """The graph of `key` when its manifest and its bytes agree; None (logged) otherwise."""
        problem = self._problem(key)
        if problem is None:
            return self.graph_path(key)
        if problem != "not built yet":
            log.warning("embeddings.graph_cache_invalid graph=%s reason=%s", self.graph_path(key), problem)
        return None

    def _problem(self, key: GraphKey) -> str | None:
        graph, manifest_file = self.graph_path(key), self.manifest_path(key)
        if not graph.is_file() and not manifest_file.is_file():
            return "not built yet"
        try:
            manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            return f"unreadable manifest ({error.__class__.__name__})"
        if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
            return "unknown manifest format"
        if manifest.get("key") != key.describe():
            return "manifest of another model or library version"
        try:
            size = graph.stat().st_size
        except OSError as error:
            return f"graph file unreadable ({error.__class__.__name__})"
        if size != manifest.get("size"):
            return f"graph has {size} bytes, manifest says {manifest.get('size')}"
        if file_sha256(graph) != manifest.get("sha256"):
            return "graph sha256 differs from its manifest"
        return None

    def ensure(self, key: GraphKey, build: Callable[[], bytes], *, force: bool = False) -> Path:
        """The verified graph of `key`, built (under the lock) when missing, damaged or `force`d."""
        with self.build_lock():
            if not force:
                existing = self.verified(key)
                if existing is not None:
                    return existing
            self.discard(key)
            self._remove_temporaries()
            return self.store(key, build())

    @contextlib.contextmanager
    def build_lock(self) -> Iterator[None]:
        """Held by one builder at a time, across processes (released if the holder dies)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        with (self.directory / _LOCK_FILE).open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def store(self, key: GraphKey, graph: bytes) -> Path:
        """Write `graph` and then its manifest, each crash-safely; a crash between them leaves a
        graph without a manifest, which is not trusted."""
        self.directory.mkdir(parents=True, exist_ok=True)
        manifest = {"format": MANIFEST_FORMAT, "key": key.describe(), "size": len(graph),
                    "sha256": hashlib.sha256(graph).hexdigest()}
        _write_atomically(self.graph_path(key), graph)
        _write_atomically(self.manifest_path(key), json.dumps(manifest, indent=1).encode("utf-8"))
        return self.graph_path(key)

    def discard(self, key: GraphKey) -> None:
        # The manifest goes first: a graph left without one is never trusted.
        for path in (self.manifest_path(key), self.graph_path(key)):
            path.unlink(missing_ok=True)

    def _remove_temporaries(self) -> None:
        """Half-written files of builders that died; only called under the build lock."""
        for path in self.directory.glob(f"*{_TEMPORARY_MARK}*"):
            path.unlink(missing_ok=True)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_atomically(path: Path, data: bytes) -> None:
    temporary = path.with_name(f"{path.name}{_TEMPORARY_MARK}{os.getpid()}")
    try:
        with temporary.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        temporary.replace(path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
