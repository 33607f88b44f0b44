"""A worker on a thread beside something else (the web server of `papercast serve`), stopped when
the block ends: the running job gets the grace period, then its lease is released."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from papercast.worker.loop import Worker

# Beyond the grace period: time to release a lease and return.
JOIN_MARGIN = 5.0


@contextmanager
def background_worker(worker: Worker) -> Iterator[Worker]:
    thread = threading.Thread(target=worker.run, name="papercast-worker", daemon=True)
    thread.start()
    try:
        yield worker
    finally:
        worker.stop()
        thread.join(timeout=worker.config.grace + JOIN_MARGIN)
