"""The candidate papers of recommendations held in memory: the unit vectors of the papers
announced in the window, reloaded from the database when the stored vectors moved on (checked
at most every `check_seconds`), so a request scores them with one matrix-vector product and
never reads vectors itself.
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
    `version()` says whether anything changed (the last embedding sequence and paper count)."""

    def __init__(self, load: Callable[[str, datetime | None], tuple[list[str], np.ndarray, np.ndarray]],
                 version: Callable[[], Any], model_id: Callable[[], str | None], clock: Clock,
                 window_days: int, check_seconds: float = 30.0) -> None:
        self._load = load
        self._version = version
        self._model_id = model_id
        self._clock = clock
        self._window_days = window_days
        self._check_seconds = check_seconds
        self._lock = threading.Lock()
        self._candidates: Candidates | None = None
        self._loaded_version: Any = None
        self._checked_at = float("-inf")

    def current(self) -> Candidates:
        with self._lock:
            now = self._clock.monotonic()
            if self._candidates is not None and now - self._checked_at < self._check_seconds:
                return self._candidates
            self._checked_at = now
            version = (self._version(), self._model_id(), self._day())
            if self._candidates is None or version != self._loaded_version:
                self._candidates = self._read(version[1])
                self._loaded_version = version
            return self._candidates

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
