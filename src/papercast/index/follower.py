"""Keeps a process's local search indexes current by following the database's change sequences.

The database is the truth; the keyword index (tantivy) and the vector index are a derived,
rebuildable directory. Papers carry `change_seq` and vectors `embedding_seq`, both in commit
order, so a follower only asks "what changed after the last sequence I hold?". One process
per index directory writes (it holds `writer.lock`); other processes on the same directory
reload what the writer published. Processes on other machines follow into their own
directories, with no coordination beyond the shared database.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from papercast.clock import Clock
from papercast.index.keyword import TantivyKeywordIndex
from papercast.index.vectors import VectorIndex
from papercast.storage.embeddings import SqlEmbeddingStore
from papercast.storage.papers import SqlPaperRepository

log = logging.getLogger("papercast.index")

KEYWORD_DIR = "keyword"
VECTOR_DIR = "vectors"
LOCK_FILE = "writer.lock"
BATCH = 2_000


@dataclass(frozen=True)
class IndexStatus:
    """How far the local indexes trail the database."""

    catalog_papers: int
    catalog_seq: int
    keyword_seq: int
    keyword_documents: int
    keyword_lag_changes: int
    keyword_lag_seconds: float
    model_id: str | None
    vectors: int
    vector_seq: int
    embedding_seq: int
    vector_lag_changes: int
    embeddings_pending: int
    neighbours_pending: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class FollowReport:
    papers_indexed: int
    vectors_indexed: int
    wrote: bool


class IndexFollower:
    """Owns the keyword and vector indexes of one directory and brings them up to date."""

    def __init__(self, directory: Path, papers: SqlPaperRepository, embeddings: SqlEmbeddingStore,
                 model_id: str | None, clock: Clock, *, exact_max: int = 300_000) -> None:
        self.directory = directory
        self._papers = papers
        self._embeddings = embeddings
        self.model_id = model_id
        self._clock = clock
        self._exact_max = exact_max
        self._lock = threading.RLock()
        self._writer_lock: IO[str] | None = None
        self._vector_generation: str | None = None
        directory.mkdir(parents=True, exist_ok=True)
        self.keyword = TantivyKeywordIndex(directory / KEYWORD_DIR)
        self.vectors: VectorIndex | None = self._load_vectors()

    # -- reading and following -----------------------------------------------------------------

    def catch_up(self, max_batches: int | None = None) -> FollowReport:
        """Index what changed since the last sequence held; reload instead when another process writes."""
        with self._lock:
            if not self._acquire_writer():
                self._reload()
                return FollowReport(0, 0, wrote=False)
            papers = self._follow_papers(max_batches)
            vectors = self._follow_vectors(max_batches)
            return FollowReport(papers, vectors, wrote=True)

    def _follow_papers(self, max_batches: int | None) -> int:
        indexed = 0
        batches = 0
        while max_batches is None or batches < max_batches:
            changed = self._papers.changed_since(self.keyword.last_change_seq, BATCH)
            if not changed:
                break
            self.keyword.add_or_replace(changed)
            self.keyword.commit(max(p.change_seq for p in changed))
            indexed += len(changed)
            batches += 1
        if indexed:
            log.info("index.keyword.follow papers=%d seq=%d", indexed, self.keyword.last_change_seq)
        return indexed

    def _follow_vectors(self, max_batches: int | None) -> int:
        if self.model_id is None:
            return 0
        vectors = self.vectors
        if vectors is None or vectors.metadata.get("model_id") != self.model_id:
            vectors = None
        indexed = 0
        batches = 0
        seq = int(vectors.metadata.get("embedding_seq", 0)) if vectors is not None else 0
        while max_batches is None or batches < max_batches:
            changes = self._embeddings.changed_since(self.model_id, seq, BATCH)
            if changes.last_seq == seq:
                break
            if changes.ids:
                if vectors is None:
                    vectors = VectorIndex(changes.matrix.shape[1], exact_max=self._exact_max,
                                          metadata={"model_id": self.model_id})
                vectors.upsert(changes.ids, changes.matrix)
            if changes.replaced_ids and vectors is not None:
                vectors.remove(changes.replaced_ids)
            seq = changes.last_seq
            indexed += len(changes.ids)
            batches += 1
        self.vectors = vectors
        if vectors is not None and indexed:
            vectors.metadata["embedding_seq"] = seq
            self._save_vectors()
            log.info("index.vectors.follow vectors=%d seq=%d", indexed, seq)
        return indexed

    def refresh_neighbours(self, max_rows: int | None = None) -> int:
        """As the writer, precompute the similar papers of up to `max_rows` papers that have none
        yet (all of them without a limit) and save them; other processes load them on reload."""
        with self._lock:
            if not self._acquire_writer() or self.vectors is None:
                return 0
            done = self.vectors.refresh_neighbours(max_rows)
            if done:
                self._save_vectors()
                log.info("index.neighbours.refresh papers=%d pending=%d", done,
                         self.vectors.pending_neighbours())
            return done

    def _save_vectors(self) -> None:
        assert self.vectors is not None
        self.vectors.save(self.directory / VECTOR_DIR)
        self._vector_generation = _generation(self.directory / VECTOR_DIR)

    def _reload(self) -> None:
        self.keyword.refresh()
        if _generation(self.directory / VECTOR_DIR) != self._vector_generation:
            self.vectors = self._load_vectors()

    def _load_vectors(self) -> VectorIndex | None:
        folder = self.directory / VECTOR_DIR
        self._vector_generation = _generation(folder)
        if self._vector_generation is None:
            return None
        try:
            vectors = VectorIndex.load(folder, exact_max=self._exact_max)
        except (OSError, ValueError) as error:
            log.warning("index.vectors.unreadable directory=%s error=%s; rebuilding", folder, error)
            return None
        return vectors if vectors.metadata.get("model_id") == self.model_id else None

    # -- writing lock, rebuild, status ---------------------------------------------------------

    @property
    def is_writer(self) -> bool:
        """Whether this process holds the index directory's writer lock."""
        return self._writer_lock is not None

    def _acquire_writer(self) -> bool:
        if self._writer_lock is not None:
            return True
        handle = open(self.directory / LOCK_FILE, "a+", encoding="utf-8")  # noqa: SIM115 - held for life
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._writer_lock = handle
        return True

    def rebuild(self) -> FollowReport:
        """Throw the indexes away and index everything again from the database."""
        with self._lock:
            if not self._acquire_writer():
                raise RuntimeError(f"another process is writing {self.directory}; stop it first")
            shutil.rmtree(self.directory / KEYWORD_DIR, ignore_errors=True)
            shutil.rmtree(self.directory / VECTOR_DIR, ignore_errors=True)
            self.keyword = TantivyKeywordIndex(self.directory / KEYWORD_DIR)
            self.vectors = None
            return self.catch_up()

    def status(self) -> IndexStatus:
        catalog_seq = self._papers.max_change_seq()
        keyword_seq = self.keyword.last_change_seq
        embedding_seq = self._embeddings.last_seq()
        vector_seq = int(self.vectors.metadata.get("embedding_seq", 0)) if self.vectors is not None else 0
        pending = self._embeddings.pending_count(self.model_id) if self.model_id else 0
        return IndexStatus(
            catalog_papers=self._papers.count(),
            catalog_seq=catalog_seq,
            keyword_seq=keyword_seq,
            keyword_documents=self.keyword.doc_count,
            keyword_lag_changes=self._papers.changes_after(keyword_seq),
            keyword_lag_seconds=self._lag_seconds(keyword_seq),
            model_id=self.model_id,
            vectors=len(self.vectors) if self.vectors is not None else 0,
            vector_seq=vector_seq,
            embedding_seq=embedding_seq,
            vector_lag_changes=self._embeddings.changes_after(vector_seq),
            embeddings_pending=pending,
            neighbours_pending=self.vectors.pending_neighbours() if self.vectors is not None else 0,
        )

    def _lag_seconds(self, keyword_seq: int) -> float:
        oldest = self._papers.oldest_change_after(keyword_seq)
        if oldest is None:
            return 0.0
        return max(0.0, (self._clock.now() - oldest).total_seconds())

    def close(self) -> None:
        if self._writer_lock is not None:
            self._writer_lock.close()
            self._writer_lock = None


def _generation(folder: Path) -> str | None:
    """Which save of the vector index is on disk (each save writes a new generation)."""
    try:
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    generation = meta.get("generation")
    return str(generation) if generation else None


class LiveKeywordIndex:
    """The follower's current keyword index, even after a rebuild replaced it (for SearchService)."""

    def __init__(self, follower: IndexFollower) -> None:
        self._follower = follower

    def __getattr__(self, name: str) -> Any:
        return getattr(self._follower.keyword, name)


class LiveVectorIndex:
    """The follower's current vector index; empty until one exists (for SearchService)."""

    def __init__(self, follower: IndexFollower) -> None:
        self._follower = follower

    def search(self, query_vector: Any, limit: int, exclude_ids: Any = ()) -> list[tuple[str, float]]:
        vectors = self._follower.vectors
        return vectors.search(query_vector, limit, exclude_ids) if vectors is not None else []

    def vector(self, paper_id: str) -> Any | None:
        vectors = self._follower.vectors
        return vectors.vector(paper_id) if vectors is not None else None

    def neighbours(self, paper_id: str, limit: int) -> list[tuple[str, float]] | None:
        vectors = self._follower.vectors
        return vectors.neighbours(paper_id, limit) if vectors is not None else None

    def vectors(self, paper_ids: Any) -> tuple[list[str], Any]:
        vectors = self._follower.vectors
        if vectors is None:
            return [], np.zeros((0, 0), dtype=np.float32)
        return vectors.vectors(paper_ids)

    def __len__(self) -> int:
        vectors = self._follower.vectors
        return len(vectors) if vectors is not None else 0

    @property
    def sequence(self) -> int:
        """The embedding sequence the loaded vectors were followed to (0 without vectors)."""
        vectors = self._follower.vectors
        return int(vectors.metadata.get("embedding_seq", 0)) if vectors is not None else 0
