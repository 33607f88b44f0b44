"""An input that never ends (a pipe, /dev/zero) stops with an error naming the limit it went over."""

from __future__ import annotations

import os
import threading
from contextlib import suppress
from pathlib import Path

import pytest

from papercast.domain.errors import SourceError
from papercast.sources import json_lines
from papercast.sources.minimal_jsonl import MinimalJsonlSource


def test_an_endless_line_from_a_pipe_stops_with_an_error_naming_the_limit(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(json_lines, "MAX_LINE_BYTES", 200)
    monkeypatch.setattr(json_lines, "_SKIP_CHUNK", 64)
    monkeypatch.setattr(json_lines, "MAX_SKIPPED_BYTES", 10_000)
    read_end, write_end = os.pipe()

    def write_forever() -> None:  # a line that never ends, until the reading end closes
        with suppress(BrokenPipeError), open(write_end, "wb") as out:
            out.write(b'{"id": "seed-1", "title": "First"}\n{"id": "seed-2", "title": "')
            while True:
                out.write(b"x" * 4096)

    writer = threading.Thread(target=write_forever, daemon=True)
    writer.start()
    try:
        # Read through a path, as `papercast ingest /dev/stdin` would: opened once, never rewound.
        items = MinimalJsonlSource(Path(f"/dev/fd/{read_end}")).items()
        assert next(items).paper_id == "seed-1"  # type: ignore[union-attr]
        with pytest.raises(SourceError, match="line 2 goes on for over 10000 bytes.*MAX_SKIPPED_BYTES"):
            next(items)
    finally:
        os.close(read_end)
        writer.join(timeout=10)
