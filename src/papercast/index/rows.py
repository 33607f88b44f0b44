"""Vector rows kept as read-only parts (memory-mapped saved segments) and a growable in-memory tail.

Rows are append-only: a row, once written, never changes, so a `RowSnapshot` taken under a lock
stays valid outside it while rows are appended (growing the tail copies it into a new array and
leaves the old one to the snapshot). Processes that load the same saved segments share their
pages through the page cache instead of each holding a private copy.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class RowSnapshot:
    """The first `size` rows of a `RowMatrix` at one moment; safe to read without any lock."""

    def __init__(self, parts: Sequence[np.ndarray], dimension: int) -> None:
        self.parts = tuple(part for part in parts if len(part))
        self.dimension = dimension
        self._starts = np.cumsum([0, *(len(part) for part in self.parts)])
        self.size = int(self._starts[-1])

    def __len__(self) -> int:
        return self.size

    def take(self, rows: np.ndarray | Sequence[int]) -> np.ndarray:
        """A float32 copy of `rows` (in the order given)."""
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        out = np.empty((len(rows), self.dimension), dtype=np.float32)
        if len(self.parts) == 1:
            out[:] = self.parts[0][rows]
            return out
        which = np.searchsorted(self._starts, rows, side="right") - 1
        for part_number in np.unique(which):
            chosen = np.flatnonzero(which == part_number)
            out[chosen] = self.parts[part_number][rows[chosen] - self._starts[part_number]]
        return out

    def scores(self, queries: np.ndarray, start: int = 0) -> np.ndarray:
        """Inner products of rows `start`.. with each query: shape (rows,) for one query, else (rows, k)."""
        transposed = queries if queries.ndim == 1 else queries.T
        pieces = []
        for part, part_start in zip(self.parts, self._starts[:-1].tolist(), strict=True):
            if part_start + len(part) > start:
                pieces.append(part[max(0, start - part_start):] @ transposed)
        if not pieces:
            shape = (0,) if queries.ndim == 1 else (0, queries.shape[0])
            return np.zeros(shape, dtype=np.float32)
        return pieces[0] if len(pieces) == 1 else np.concatenate(pieces, axis=0)

    def contiguous(self) -> np.ndarray:
        """All rows as one array (a copy unless there is a single part)."""
        if len(self.parts) == 1:
            return self.parts[0]
        if not self.parts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.concatenate(self.parts, axis=0)

    def slice(self, start: int, stop: int) -> np.ndarray:
        """Rows `start` to `stop` as one array (a copy when they span parts)."""
        return self.take(np.arange(start, stop))


class RowMatrix:
    """Append-only rows: saved parts first, then an in-memory tail that grows by half again."""

    def __init__(self, dimension: int, parts: Sequence[np.ndarray] = ()) -> None:
        self.dimension = dimension
        self._parts = [part for part in parts if len(part)]
        self._fixed_rows = sum(len(part) for part in self._parts)
        self._tail = np.zeros((0, dimension), dtype=np.float32)
        self._tail_rows = 0

    def __len__(self) -> int:
        return self._fixed_rows + self._tail_rows

    def append(self, vectors: np.ndarray) -> None:
        needed = self._tail_rows + len(vectors)
        if needed > len(self._tail):
            capacity = max(needed, int(len(self._tail) * 1.5), 1024)
            grown = np.empty((capacity, self.dimension), dtype=np.float32)
            grown[:self._tail_rows] = self._tail[:self._tail_rows]
            self._tail = grown  # the old array stays whole for any snapshot that holds it
        self._tail[self._tail_rows:needed] = vectors
        self._tail_rows = needed

    def snapshot(self) -> RowSnapshot:
        return RowSnapshot([*self._parts, self._tail[:self._tail_rows]], self.dimension)
