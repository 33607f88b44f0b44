"""Reading ahead: a second process parses and validates a large file while this one writes.

Parsing and validating a snapshot record costs about as much CPU as merging and writing it,
and one Python process uses one core. For a file of `min_bytes` or more, on a machine with two
or more cores, a child process reads the file and validates each batch (`validate_items`). It
hands the batches over through a pipe (as plain tuples: see `ValidatedBatch`), one batch ahead
of the writer, so memory stays flat. The writer merges and commits them in the same order as a
serial run would.

The child is started with `spawn`, so it shares no threads, locks or database connections
with the writer. What the source raises in the child (an unreadable file, a broken gzip
stream) is raised again in the writer after the batches read before it; a child that dies
without a word is reported as a `SourceError` naming the file and its exit status.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import pickle
import signal
import threading
import traceback
from collections.abc import Generator, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from papercast.domain.errors import SourceError
from papercast.domain.ingest import ValidatedBatch, read_batches, validate_items
from papercast.ports import PaperSource
from papercast.runtime import fewer_gc_passes

log = logging.getLogger("papercast.ingest")

DEFAULT_MIN_BYTES = 32 * 2**20


class ProcessReadAhead:
    """Reads and validates files of at least `min_bytes` in a child process (see module docstring)."""

    def __init__(self, min_bytes: int = DEFAULT_MIN_BYTES, *, cores: int | None = None) -> None:
        self._min_bytes = min_bytes
        self._cores = cores if cores is not None else (os.cpu_count() or 1)

    def batches(self, source: PaperSource, batch_size: int) -> Generator[ValidatedBatch, None, None] | None:
        """The source's validated batches from a child process, or None when not worth it."""
        path = getattr(source, "path", None)
        if not isinstance(path, Path) or self._cores < 2 or self._min_bytes <= 0:
            return None
        try:
            size = path.stat().st_size
        except OSError:
            return None  # reading it in this process reports the error as usual
        if size < self._min_bytes:
            return None
        return _read_in_child(source, path, batch_size)


def _read_in_child(source: PaperSource, path: Path, batch_size: int) -> Generator[ValidatedBatch, None, None]:
    context = multiprocessing.get_context("spawn")
    reader, writer = context.Pipe(duplex=False)
    child = context.Process(target=produce, args=(source, batch_size, writer),
                            name="papercast-read-ahead", daemon=True)
    try:
        with _children_ignore_interrupts():
            child.start()
        # The child now holds the only write end: when it ends, for any reason, reading ends too.
        # While the writer is busy, the child validates one batch ahead and waits to hand it over.
        writer.close()
        log.info("ingest.read_ahead path=%s pid=%s", path, child.pid)
        while True:
            try:
                kind, payload = reader.recv()
            except (EOFError, OSError):  # OSError: the pipe ended inside a message
                child.join()
                raise SourceError(f"{path}: reading stopped: the read-ahead process exited with status "
                                  f"{child.exitcode}", code="read_ahead_died") from None
            if kind == "done":
                break
            if kind == "error":
                error, trace = payload
                log.debug("ingest.read_ahead.error path=%s\n%s", path, trace)
                raise error
            yield payload
    finally:
        writer.close()
        reader.close()
        if child.pid is not None:  # started
            if child.is_alive():
                child.terminate()  # SIGTERM: the child has no handler for it, so it ends without a word
            child.join()


@contextmanager
def _children_ignore_interrupts() -> Iterator[None]:
    """Children started in here ignore SIGINT from their first instruction on.

    A Ctrl-C reaches the whole process group. A spawned Python keeps an inherited "ignore" and
    then installs no KeyboardInterrupt handler, so a child interrupted while it starts up prints
    no traceback; the writer handles the interrupt and stops the child. (Only the main thread
    may change signal handlers; elsewhere interrupts do not arrive anyway.)
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def produce(source: PaperSource, batch_size: int, channel: Any) -> None:
    """The child's work: validate batch after batch and send each down `channel`, then ("done", None).

    Interrupts are the writer's to handle (a Ctrl-C reaches the whole process group); it
    stops this process when it stops reading. When the writer has gone (killed), there is
    nobody to tell: this process ends quietly.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with fewer_gc_passes() as between_batches:
            # When reading fails part-way, the items read before come as a last batch first.
            for chunk in read_batches(source.items(), batch_size):
                channel.send(("batch", validate_items(chunk, source.name)))
                between_batches()
    except (BrokenPipeError, ConnectionResetError):
        return  # the writer is gone
    except BaseException as error:  # noqa: BLE001 - handed to the writer, which raises it
        with suppress(BrokenPipeError, ConnectionResetError):
            channel.send(("error", (_portable(error), traceback.format_exc())))
    else:
        with suppress(BrokenPipeError, ConnectionResetError):
            channel.send(("done", None))
    finally:
        channel.close()


def _portable(error: BaseException) -> BaseException:
    """`error` if it survives pickling intact, else a RuntimeError saying what it was."""
    try:
        copy = pickle.loads(pickle.dumps(error))
    except Exception as unpicklable:  # noqa: BLE001 - any pickling failure gets the same answer
        return RuntimeError(f"{type(error).__name__}: {error} (and it could not be passed on: {unpicklable})")
    return copy if str(copy) == str(error) else RuntimeError(f"{type(error).__name__}: {error}")
