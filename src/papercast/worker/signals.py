"""Stopping `papercast worker` by signal: SIGTERM or SIGINT stops claiming and gives the running
job the grace period; a second signal releases it at once."""

from __future__ import annotations

import logging
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from papercast.worker.loop import Worker

log = logging.getLogger("papercast.worker")

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


@contextmanager
def stop_on_signals(worker: Worker) -> Iterator[None]:
    """Within the block (on the main thread), the stop signals stop `worker`."""

    def handle(signum: int, _frame: FrameType | None) -> None:
        again = worker.stopping
        log.warning("worker.signal signal=%s %s", signal.Signals(signum).name,
                    "releasing the running job now" if again else "stopping after the running job")
        worker.stop(immediately=again)

    previous = {number: signal.signal(number, handle) for number in STOP_SIGNALS}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
