"""A clock that moves only when a test moves it (leases, backoffs and periods without waiting)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta


class ManualClock:
    """`Clock` whose time stands still until `advance` (or `sleep`) moves it; thread-safe."""

    def __init__(self, start: datetime = datetime(2026, 12, 3, 16, 0, tzinfo=UTC)) -> None:
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def monotonic(self) -> float:
        return self.now().timestamp()

    def sleep(self, seconds: float) -> None:
        self.advance(seconds)

    def advance(self, seconds: float) -> datetime:
        with self._lock:
            self._now += timedelta(seconds=seconds)
            return self._now
