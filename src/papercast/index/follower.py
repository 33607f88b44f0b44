"""Keeps a process's local search indexes current by following the database's change sequences,
and rebuilds them from the database when they are damaged or do not match it.

The database is the truth; the keyword index (tantivy) and the vector index are a derived,
rebuildable directory. Papers carry `change_seq` and vectors `embedding_seq`, both in commit
order, so a follower only asks "what changed after the last sequence I hold?". One process
per index directory writes (it holds `writer.lock`); other processes on the same directory
reload what the writer published. Processes on other machines follow into their own
directories, with no coordination beyond the shared database.

Repair lives here, so whatever loop calls `catch_up` repairs. The writer checks its indexes
when it first follows and every `verify_every` seconds: files that cannot be read, and an index
that contradicts the database (a sequence ahead of it, more or fewer papers than it had at
that sequence, a missing state file) whatever its own files say. A damaged or stale index is
logged once and rebuilt from the database, `max_batches` at a time like any catch-up, into a
new keyword directory (named by `keyword.json` once complete) or a new in-memory vector index
(saved, then swapped in); meanwhile searches answer from what still works.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any, TypeVar

import numpy as np

from papercast.clock import Clock
from papercast.domain.errors import Conflict, IndexUnavailable
from papercast.index import durable, health, vector_files
from papercast.index.durable import DamagedFiles
from papercast.index.keyword import TantivyKeywordIndex
from papercast.index.vectors import SaveReport, VectorIndex
from papercast.ports import PaperChangeFeed, VectorChangeFeed

log = logging.getLogger("papercast.index")

KEYWORD_POINTER = "keyword.json"  # names the current keyword directory
LEGACY_KEYWORD_DIR = "keyword"  # where the keyword index lived before builds were named
VECTOR_DIR = "vectors"
LOCK_FILE = "writer.lock"
BATCH = 2_000
VERIFY_EVERY = 60.0  # seconds between the writer's checks of its indexes
_KEYWORD_NAME = re.compile(r"^keyword(-[0-9a-f]{8})?$")
_T = TypeVar("_T")


@dataclass(frozen=True)
class IndexStatus:
    """How far the local indexes trail the database, and what is wrong with them."""

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
    keyword_problem: str | None = None  # damaged or stale: the sequence and lag count from zero
    vector_problem: str | None = None
    writer_pid: int | None = None  # the process that writes (and repairs) this directory, if any

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class FollowReport:
    papers_indexed: int
    vectors_indexed: int
    wrote: bool
    repaired: tuple[str, ...] = ()  # indexes this call finished rebuilding ("keyword", "vectors")
    vector_save: SaveReport | None = None


@dataclass
class _VectorBuild:
    """A vector index being rebuilt from the database, swapped in once it has caught up."""

    index: VectorIndex | None = None  # created with the first vector (its dimension)
    seq: int = 0
    started: float = 0.0


class IndexFollower:
    """Owns the keyword and vector indexes of one directory, brings them up to date and repairs them."""

    def __init__(self, directory: Path, papers: PaperChangeFeed, embeddings: VectorChangeFeed,
                 model_id: str | None, clock: Clock, *, exact_max: int = 300_000,
                 verify_every: float = VERIFY_EVERY) -> None:
        self.directory = directory
        self._papers = papers
        self._embeddings = embeddings
        self.model_id = model_id
        self._clock = clock
        self._exact_max = exact_max
        self.verify_every = verify_every  # seconds; tests and operators may shorten it
        self._lock = threading.RLock()
        self._writer_lock: IO[str] | None = None
        self._verified_at: float | None = None
        self._reported: set[tuple[str, str]] = set()
        self.keyword: TantivyKeywordIndex | None = None
        self.keyword_problem: str | None = None  # set: the keyword index is rebuilt (by the writer)
        self._keyword_build: TantivyKeywordIndex | None = None
        self._keyword_build_started = 0.0
        self._failed_in_search: tuple[TantivyKeywordIndex, str] | None = None
        self.vectors: VectorIndex | None = None
        self.vector_problem: str | None = None
        self._vector_build: _VectorBuild | None = None
        self._vector_generation: str | None = None
        self.last_save: SaveReport | None = None
        directory.mkdir(parents=True, exist_ok=True)
        self._open_keyword()
        self._load_vectors()

    # -- following -----------------------------------------------------------------------------

    def catch_up(self, max_batches: int | None = None) -> FollowReport:
        """Index what changed since the last sequence held, repairing what is damaged or stale;
        reload instead when another process writes."""
        with self._lock:
            first = not self.is_writer
            if not self._acquire_writer():
                self._reload()
                return FollowReport(0, 0, wrote=False)
            if first:
                self._remove_stray_builds()
            self._take_search_failure()
            if self._verified_at is None or time.monotonic() - self._verified_at >= self.verify_every:
                self._check(thorough=self._verified_at is None)
            for name, problem in (("keyword", self.keyword_problem), ("vectors", self.vector_problem)):
                if problem:
                    self._report(name, problem)
            self.last_save = None
            papers, keyword_rebuilt = self._follow_papers(max_batches)
            vectors, vectors_rebuilt = self._follow_vectors(max_batches)
            rebuilt = (("keyword", keyword_rebuilt), ("vectors", vectors_rebuilt))
            repaired = tuple(name for name, done in rebuilt if done)
            return FollowReport(papers, vectors, wrote=True, repaired=repaired, vector_save=self.last_save)

    def _follow_papers(self, max_batches: int | None) -> tuple[int, bool]:
        target = self._keyword_target()
        indexed = batches = 0
        caught_up = False
        while max_batches is None or batches < max_batches:
            changed = self._papers.changed_since(target.last_change_seq, BATCH)
            if not changed:
                caught_up = True
                break
            target.add_or_replace(changed)
            target.commit(max(p.change_seq for p in changed))
            indexed += len(changed)
            batches += 1
        if indexed:
            log.info("index.keyword.follow papers=%d seq=%d", indexed, target.last_change_seq)
        if caught_up and target is self._keyword_build:
            self._publish_keyword(target)
            log.info("index.keyword.rebuilt directory=%s papers=%d seconds=%.1f", target.directory,
                        target.doc_count, time.monotonic() - self._keyword_build_started)
            return indexed, True
        return indexed, False

    def _keyword_target(self) -> TantivyKeywordIndex:
        """The keyword index to follow into: the current one, or a new build when it is missing,
        damaged or stale (answering searches at once when there is nothing else to answer them)."""
        if self._keyword_build is not None:
            return self._keyword_build
        if self.keyword is not None and self.keyword_problem is None:
            return self.keyword
        build = TantivyKeywordIndex(self.directory / f"keyword-{uuid.uuid4().hex[:8]}")
        self._keyword_build_started = time.monotonic()
        if self.keyword is None and self.keyword_problem is None:
            self._publish_keyword(build)  # the first index: it answers as it grows
            return build
        self._keyword_build = build
        return build

    def _publish_keyword(self, index: TantivyKeywordIndex) -> None:
        assert index.directory is not None
        durable.write_json(self.directory / KEYWORD_POINTER, {"directory": index.directory.name})
        self.keyword, self.keyword_problem, self._keyword_build = index, None, None
        self._remove_stray_builds()

    def _remove_stray_builds(self) -> None:
        """Delete keyword directories that are neither current nor being built: earlier builds,
        what is left of damaged ones, and a build a writer that died did not finish."""
        keep = {index.directory for index in (self.keyword, self._keyword_build) if index is not None}
        for folder in self.directory.iterdir():
            if folder.is_dir() and _KEYWORD_NAME.match(folder.name) and folder not in keep:
                shutil.rmtree(folder, ignore_errors=True)

    def _follow_vectors(self, max_batches: int | None) -> tuple[int, bool]:
        if self.model_id is None:
            return 0, False
        build = self._vector_target()
        vectors = build.index if build is not None else self.vectors
        seq = build.seq if build is not None else _sequence_of(vectors)
        indexed = batches = 0
        caught_up = False
        while max_batches is None or batches < max_batches:
            changes = self._embeddings.changed_since(self.model_id, seq, BATCH)
            if changes.last_seq == seq:
                caught_up = True
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
        if build is not None:
            build.index, build.seq = vectors, seq
            return indexed, caught_up and self._finish_vector_build(build)
        # Also saved when unchanged but loaded from what a save cannot extend (an older format),
        # so that the next catch-up's save is a delta.
        if vectors is not None and (indexed or not vectors.saved_in(self.directory / VECTOR_DIR)):
            vectors.metadata["embedding_seq"] = seq
            self._save_vectors(vectors)
            log.info("index.vectors.follow vectors=%d seq=%d", indexed, seq)
        return indexed, False

    def _vector_target(self) -> _VectorBuild | None:
        """None to follow the current vector index; a build when there is none of this model or
        it is damaged or stale."""
        if self._vector_build is not None:
            return self._vector_build
        current = self.vectors
        same_model = current is not None and current.metadata.get("model_id") == self.model_id
        if same_model and self.vector_problem is None:
            return None
        self._vector_build = _VectorBuild(started=time.monotonic())
        return self._vector_build

    def _finish_vector_build(self, build: _VectorBuild) -> bool:
        folder = self.directory / VECTOR_DIR
        if build.index is None:  # no vector of this model yet: nothing to search or keep
            shutil.rmtree(folder, ignore_errors=True)
        else:
            build.index.metadata["embedding_seq"] = build.seq
            self._save_vectors(build.index)
        repaired = self.vector_problem is not None
        self.vectors, self.vector_problem, self._vector_build = build.index, None, None
        if repaired:
            log.info("index.vectors.rebuilt vectors=%d seconds=%.1f",
                        len(build.index) if build.index is not None else 0, time.monotonic() - build.started)
        return repaired

    def refresh_neighbours(self, max_rows: int | None = None) -> int:
        """As the writer, precompute the similar papers of up to `max_rows` papers that have none
        yet (all of them without a limit) and save them; other processes load them on reload."""
        with self._lock:
            vectors = self.vectors
            if not self._acquire_writer() or vectors is None or self._vector_build is not None:
                return 0
            done = vectors.refresh_neighbours(max_rows)
            if done:
                self._save_vectors(vectors)
                log.info("index.neighbours.refresh papers=%d pending=%d", done, vectors.pending_neighbours())
            return done

    def _save_vectors(self, vectors: VectorIndex) -> None:
        report = vectors.save(self.directory / VECTOR_DIR)
        self.last_save = report
        self._vector_generation = vector_files.published_generation(self.directory / VECTOR_DIR)
        log.info("index.vectors.save kind=%s bytes=%d seconds=%.3f segments=%d", report.kind,
                 report.bytes_written, report.seconds, report.segments)

    # -- opening and reloading -----------------------------------------------------------------

    def _open_keyword(self) -> None:
        try:
            folder = self._keyword_directory()
            self.keyword = TantivyKeywordIndex(folder, create=False) if folder is not None else None
            self.keyword_problem = self.keyword.problem if self.keyword is not None else None
        except DamagedFiles as error:
            self.keyword, self.keyword_problem = None, str(error)

    def _keyword_directory(self) -> Path | None:
        """The published keyword directory (named by `keyword.json`, else the layout before it)."""
        pointer = self.directory / KEYWORD_POINTER
        try:
            name = json.loads(pointer.read_text(encoding="utf-8"))["directory"]
        except FileNotFoundError:
            legacy = self.directory / LEGACY_KEYWORD_DIR
            return legacy if legacy.exists() else None
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise DamagedFiles(f"{pointer}: cannot be read ({error})") from error
        if not isinstance(name, str) or not _KEYWORD_NAME.match(name):
            raise DamagedFiles(f"{pointer}: names {name!r}, not a keyword index directory")
        return self.directory / name

    def _load_vectors(self) -> None:
        self._vector_generation = vector_files.published_generation(self.directory / VECTOR_DIR)
        try:
            self.vectors, self.vector_problem = self._read_vectors(), None
        except DamagedFiles as error:
            self.vectors, self.vector_problem = None, str(error)

    def _read_vectors(self) -> VectorIndex | None:
        """The saved vector index of this model; None when there is none (or of another model,
        which is replaced as when nothing was saved); `DamagedFiles` when it cannot be read."""
        folder = self.directory / VECTOR_DIR
        if not (folder / vector_files.MANIFEST).exists():
            if folder.is_dir() and any(path.suffix != durable.TEMPORARY_SUFFIX for path in folder.iterdir()):
                raise DamagedFiles(f"{folder / vector_files.MANIFEST}: missing")
            return None
        vectors = VectorIndex.load(folder, exact_max=self._exact_max)
        return vectors if vectors.metadata.get("model_id") == self.model_id else None

    def _reload(self) -> None:
        """As a reader: take what the writer published, keeping what answers when that fails."""
        self._reload_keyword()
        generation = vector_files.published_generation(self.directory / VECTOR_DIR)
        if generation == self._vector_generation and self.vectors is not None:
            return
        try:
            current = self.vectors
            if current is None or not current.update_from(self.directory / VECTOR_DIR):
                self.vectors = self._read_vectors()
            self._vector_generation, self.vector_problem = generation, None
        except DamagedFiles as error:  # what was loaded before (if anything) goes on answering
            if self.vectors is None:
                self.vector_problem = str(error)
            self._report("vectors", str(error), action="keeping what was loaded before")

    def _reload_keyword(self) -> None:
        failed = self._failed_in_search is not None and self._failed_in_search[0] is self.keyword
        try:
            folder = self._keyword_directory()
            if self.keyword is not None and not failed and folder == self.keyword.directory:
                self._refresh_keyword(self.keyword)
                return
            if folder is not None:
                index = TantivyKeywordIndex(folder, create=False)
                self.keyword, self.keyword_problem, self._failed_in_search = index, index.problem, None
        except DamagedFiles as error:
            if self.keyword is None or failed:
                self.keyword, self.keyword_problem = None, str(error)
            self._report("keyword", str(error), action="waiting for the process that writes the index")

    @staticmethod
    def _refresh_keyword(keyword: TantivyKeywordIndex) -> None:
        """Take the writer's latest commit; once more if the first try met files the writer's
        merge had just deleted (tantivy cannot know that another process still reads them)."""
        try:
            keyword.refresh()
        except DamagedFiles:
            keyword.refresh()

    # -- checking ------------------------------------------------------------------------------

    def _take_search_failure(self) -> None:
        """A search that met damage the checks missed: the index it used is rebuilt."""
        failure = self._failed_in_search
        if failure is not None and failure[0] is self.keyword:
            self.keyword, self.keyword_problem = None, failure[1]
        self._failed_in_search = None

    def _check(self, thorough: bool) -> None:
        """Look for damage and contradictions with the database; what is found gets rebuilt."""
        self._verified_at = time.monotonic()
        keyword = self.keyword
        if keyword is not None and self.keyword_problem is None and self._keyword_build is None:
            self.keyword_problem = self._keyword_trouble(keyword, on_disk=True)
        vectors = self.vectors
        if vectors is not None and self.vector_problem is None and self._vector_build is None:
            self.vector_problem = self._vector_trouble(vectors, thorough, on_disk=True)

    def _keyword_trouble(self, keyword: TantivyKeywordIndex, *, on_disk: bool) -> str | None:
        """Why `keyword` cannot be trusted, or None."""
        if keyword.problem:
            return keyword.problem
        try:
            documents = keyword.check_files() if on_disk else keyword.doc_count
            # Only the writer's view must equal the files: a reader's may trail the latest commit.
            if self.is_writer and documents != keyword.doc_count:
                return f"its files hold {documents:,} papers, the index in memory {keyword.doc_count:,}"
            return health.keyword_contradiction(self._papers, keyword.last_change_seq, keyword.doc_count)
        except DamagedFiles as error:
            return str(error)

    def _vector_trouble(self, vectors: VectorIndex, thorough: bool, *, on_disk: bool) -> str | None:
        """Why `vectors` cannot be trusted, or None."""
        try:
            if on_disk:
                health.check_vector_files(self.directory / VECTOR_DIR)
        except DamagedFiles as error:
            return str(error)
        return health.vector_contradiction(self._embeddings, self.model_id, _sequence_of(vectors),
                                           len(vectors), thorough=thorough)

    def _report(self, index: str, problem: str, action: str | None = None) -> None:
        """Log a problem once: the event a person or a log alert acts on."""
        if (index, problem) in self._reported:
            return
        self._reported.add((index, problem))
        log.warning("index.%s.damaged directory=%s problem=%s action=%s", index, self.directory, problem,
                    action or ("rebuilding from the database" if self.is_writer
                               else "waiting for the process that writes the index to rebuild it"))

    # -- what searches see ---------------------------------------------------------------------

    def failed_in_search(self, index: TantivyKeywordIndex, error: DamagedFiles) -> None:
        """A search met damage in `index`: searches stop using it and the next catch-up rebuilds it."""
        self._failed_in_search = (index, str(error))
        self._report("keyword", str(error))

    def keyword_for_search(self) -> TantivyKeywordIndex:
        """The keyword index searches use; `IndexUnavailable` saying why when there is none."""
        index = self.keyword
        failure = self._failed_in_search
        if index is not None and not (failure is not None and failure[0] is index):
            return index
        if self._keyword_build is not None or (self.is_writer and (self.keyword_problem or failure)):
            raise IndexUnavailable("the keyword index is being rebuilt from the database")
        problem = failure[1] if failure is not None else self.keyword_problem
        if problem:
            raise IndexUnavailable(f"the keyword index is damaged ({problem}); the process that writes "
                                   "the index rebuilds it, or run `papercast index rebuild`")
        raise IndexUnavailable("the keyword index is not built yet")

    def vectors_unavailable_reason(self) -> str | None:
        """Why searches have no vectors although vectors may exist (damage, a rebuild); else None."""
        if self.vectors is not None:
            return None
        if self._vector_build is not None and self.vector_problem:
            return "the vector index is being rebuilt from the database"
        if self.vector_problem:
            return f"the vector index is damaged ({self.vector_problem}); run `papercast index rebuild`"
        return None

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

    def writer_pid(self) -> int | None:
        """The process that holds the writer lock (this one included), or None when none does."""
        if self.is_writer:
            return os.getpid()
        try:
            with open(self.directory / LOCK_FILE, encoding="utf-8") as handle:
                try:
                    fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
                except BlockingIOError:
                    text = handle.read().strip()
                    return int(text) if text.isdigit() else -1
                fcntl.flock(handle, fcntl.LOCK_UN)
        except FileNotFoundError:
            return None
        return None

    def rebuild(self) -> FollowReport:
        """Index every paper and vector again from the database, whatever is on disk; the new
        indexes replace the old ones once complete."""
        with self._lock:
            if not self._acquire_writer():
                pid = self.writer_pid()
                raise Conflict(f"another process (pid {pid}) writes the search indexes in {self.directory}; "
                               "stop `papercast serve` or `papercast worker` first (they rebuild damaged "
                               "indexes on their own)")
            started = time.monotonic()
            self._keyword_build = TantivyKeywordIndex(self.directory / f"keyword-{uuid.uuid4().hex[:8]}")
            self._keyword_build_started = started
            self._vector_build = _VectorBuild(started=started) if self.model_id is not None else None
            self.last_save = None
            papers, _ = self._follow_papers(None)
            vectors, _ = self._follow_vectors(None)
            self.keyword_problem = self.vector_problem = None
            self._verified_at = time.monotonic()
            return FollowReport(papers, vectors, wrote=True, repaired=("keyword", "vectors"),
                                vector_save=self.last_save)

    def status(self, verify: bool = False) -> IndexStatus:
        """Where the indexes stand against the database, checked now; `verify` also checksums
        every file (reading all of them)."""
        keyword, vectors = self.keyword, self.vectors
        keyword_problem = self.keyword_problem or (
            self._keyword_trouble(keyword, on_disk=True) if keyword is not None else None)
        if keyword is not None and keyword_problem is None and verify:
            keyword_problem = _checksum_problem(lambda: keyword.verify_checksums())
        vector_problem = self.vector_problem or (
            self._vector_trouble(vectors, True, on_disk=True) if vectors is not None else None)
        if vectors is not None and vector_problem is None and verify:
            folder = self.directory / VECTOR_DIR
            vector_problem = _checksum_problem(lambda: health.check_vector_files(folder, verify=True))
        catalog_seq = self._papers.max_change_seq()
        keyword_seq = keyword.last_change_seq if keyword is not None and not keyword_problem else 0
        vector_seq = _sequence_of(vectors) if not vector_problem else 0
        pending = self._embeddings.pending_count(self.model_id) if self.model_id else 0
        return IndexStatus(
            catalog_papers=self._papers.count(),
            catalog_seq=catalog_seq,
            keyword_seq=keyword_seq,
            keyword_documents=_documents(keyword),
            keyword_lag_changes=self._papers.changes_after(keyword_seq),
            keyword_lag_seconds=self._lag_seconds(keyword_seq),
            model_id=self.model_id,
            vectors=len(vectors) if vectors is not None else 0,
            vector_seq=vector_seq,
            embedding_seq=self._embeddings.last_seq(),
            vector_lag_changes=self._embeddings.changes_after(vector_seq),
            embeddings_pending=pending,
            neighbours_pending=vectors.pending_neighbours() if vectors is not None else 0,
            keyword_problem=keyword_problem,
            vector_problem=vector_problem,
            writer_pid=self.writer_pid(),
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


def _sequence_of(vectors: VectorIndex | None) -> int:
    return int(vectors.metadata.get("embedding_seq", 0)) if vectors is not None else 0


def _documents(keyword: TantivyKeywordIndex | None) -> int:
    if keyword is None:
        return 0
    try:
        return keyword.doc_count
    except DamagedFiles:
        return 0


def _checksum_problem(verify: Callable[[], Any]) -> str | None:
    try:
        verify()
    except DamagedFiles as error:
        return str(error)
    return None


class LiveKeywordIndex:
    """The follower's current keyword index, even after a rebuild replaced it (for SearchService).

    Without a usable index, or when a search meets damaged files, searches get `IndexUnavailable`
    saying why (the service then answers from the vectors); highlighting needs no index."""

    def __init__(self, follower: IndexFollower) -> None:
        self._follower = follower
        self._analysis = TantivyKeywordIndex()  # in memory: word analysis for highlights

    def search(self, *args: Any, **kwargs: Any) -> Any:
        return self._guarded(lambda index: index.search(*args, **kwargs))

    def filter_ids(self, *args: Any, **kwargs: Any) -> set[str]:
        return self._guarded(lambda index: index.filter_ids(*args, **kwargs))

    def pinned_ids(self, *args: Any, **kwargs: Any) -> list[str]:
        return self._guarded(lambda index: index.pinned_ids(*args, **kwargs))

    def matching(self, *args: Any, **kwargs: Any) -> list[str]:
        return self._guarded(lambda index: index.matching(*args, **kwargs))

    def _guarded(self, call: Callable[[TantivyKeywordIndex], _T]) -> _T:
        index = self._follower.keyword_for_search()
        try:
            return call(index)
        except DamagedFiles as error:
            self._follower.failed_in_search(index, error)
            raise IndexUnavailable(f"the keyword index cannot be read ({error})") from error

    def __getattr__(self, name: str) -> Any:
        return getattr(self._follower.keyword or self._analysis, name)


class LiveVectorIndex:
    """The follower's current vector index; empty until one exists (for SearchService)."""

    def __init__(self, follower: IndexFollower) -> None:
        self._follower = follower

    @property
    def problem(self) -> str | None:
        return self._follower.vectors_unavailable_reason()

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
