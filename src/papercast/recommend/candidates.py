"""The candidate papers of recommendations held in memory: the unit vectors of the papers
announced in the window, reloaded from the database by a background thread when the stored
vectors moved on (looked at most every `check_seconds`), so a request scores them with one
matrix-vector product and never reads vectors itself (only the very first load blocks).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from papercast.clock import Clock

log = logging.getLogger("papercast.recommendations")


@dataclass(frozen=True)
class Candidates:
    model_id: str | None
    ids: Sequence[str] = ()
    matrix: Any = field(default_factory=lambda: np.zeros((0, 0), dtype=np.float32))
    announced: Any = field(default_factory=lambda: np.zeros(0))


class RecentPapers:
    """`CandidatePool` over the database: `load(model_id, since)` reads (ids, vectors, times),
    `version()` says whether anything changed (the last embedding sequence and paper count).

    The first `current()` loads in the caller (there is nothing to answer with yet). Later, once
    `check_seconds` passed, `current()` wakes the refresher thread (started then, a daemon) and
    returns the matrix it has at once; the refresher reads the version and, when it moved,
    loads the new matrix and swaps it in whole. A failed reload is logged and the old matrix
    stays. `close()` stops the thread."""

    def __init__(self, load: Callable[[str, datetime | None], tuple[list[str], np.ndarray, np.ndarray]],
                 version: Callable[[], Any], model_id: Callable[[], str | None], clock: Clock,
                 window_days: int, check_seconds: float = 30.0) -> None:
        self._load = load
        self._version = version
        self._model_id = model_id
        self._clock = clock
        self._window_days = window_days
        self._check_seconds = check_seconds
        self._lock = threading.Lock()  # the first load, the swap and the thread's start
        self._candidates: Candidates | None = None
        self._loaded_version: Any = None
        self._checked_at = float("-inf")
        self._wanted = threading.Event()  # a request asks the refresher to look
        self._idle = threading.Event()
        self._idle.set()
        self._stopping = threading.Event()
        self._refresher: threading.Thread | None = None

    def current(self) -> Candidates:
        candidates = self._candidates
        if candidates is None:
            with self._lock:
                if self._candidates is None:
                    self._checked_at = self._clock.monotonic()
                    version = self._current_version()
                    self._candidates, self._loaded_version = self._read(version[1]), version
                return self._candidates
        now = self._clock.monotonic()
        if now - self._checked_at >= self._check_seconds:
            self._checked_at = now
            self._wake_refresher()
        return candidates

    def check_soon(self) -> None:
        """Have the next `current()` wake the refresher, whatever the interval (vectors known to
        have changed in this process, a benchmark)."""
        self._checked_at = float("-inf")

    def wait_until_idle(self, timeout: float) -> bool:
        """Whether the refresher finished what it was asked within `timeout` seconds (tests, bench)."""
        return self._idle.wait(timeout)

    def close(self) -> None:
        self._stopping.set()
        self._wanted.set()
        refresher = self._refresher
        if refresher is not None:
            refresher.join(timeout=10)

    def _wake_refresher(self) -> None:
        with self._lock:
            if self._stopping.is_set():
                return
            self._idle.clear()
            self._wanted.set()
            if self._refresher is None:
                self._refresher = threading.Thread(target=self._refresh_loop, name="papercast-candidates",
                                                   daemon=True)
                self._refresher.start()

    def _refresh_loop(self) -> None:
        while True:
            self._wanted.wait()
            if self._stopping.is_set():
                self._idle.set()
                return
            self._wanted.clear()
            try:
                self._refresh()
            except Exception:  # noqa: BLE001 - a database away for a moment must not end the refresher
                log.exception("recommendations.candidates_reload_failed; the loaded candidates stay")
            finally:
                with self._lock:  # a request that woke it meanwhile keeps it busy
                    if not self._wanted.is_set():
                        self._idle.set()

    def _refresh(self) -> None:
        version = self._current_version()
        if version == self._loaded_version:
            return
        candidates = self._read(version[1])  # seconds at 100,000 papers: requests go on meanwhile
        with self._lock:
            self._candidates, self._loaded_version = candidates, version

    def _current_version(self) -> tuple[Any, str | None, str]:
        return self._version(), self._model_id(), self._day()

    def _day(self) -> str:
        return self._clock.now().date().isoformat()

    def _read(self, model_id: str | None) -> Candidates:
        if model_id is None:
            return Candidates(None)
        since = None if self._window_days <= 0 else self._clock.now() - timedelta(days=self._window_days)
        ids, vectors, announced = self._load(model_id, since)
        if not ids:
            return Candidates(model_id)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        matrix = np.ascontiguousarray(vectors / np.where(norms > 0, norms, 1.0), dtype=np.float32)
        log.info("recommendations.candidates model=%s papers=%d since=%s", model_id, len(ids), since)
        return Candidates(model_id, ids, matrix, announced)
