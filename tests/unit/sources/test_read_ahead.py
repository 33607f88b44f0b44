"""When ingest reads ahead in a second process, and when it does not bother."""

from __future__ import annotations

from pathlib import Path

from papercast.sources.minimal_jsonl import MinimalJsonlSource
from papercast.sources.read_ahead import ProcessReadAhead


class NoFile:
    name = "remote"

    def items(self):  # type: ignore[no-untyped-def]
        return iter(())


def test_only_files_at_least_the_threshold_on_two_cores_are_read_ahead(tmp_path: Path) -> None:
    path = tmp_path / "papers.jsonl"
    path.write_text('{"id": "seed-1", "title": "T"}\n' * 100)
    size = path.stat().st_size
    source = MinimalJsonlSource(path)
    batches = ProcessReadAhead(size, cores=2).batches(source, 10)
    assert batches is not None
    batches.close()  # never started: closing it starts nothing
    assert ProcessReadAhead(size + 1, cores=2).batches(source, 10) is None
    assert ProcessReadAhead(size, cores=1).batches(source, 10) is None
    assert ProcessReadAhead(0, cores=2).batches(source, 10) is None
    assert ProcessReadAhead(1, cores=2).batches(NoFile(), 10) is None
    assert ProcessReadAhead(1, cores=2).batches(MinimalJsonlSource(tmp_path / "missing.jsonl"), 10) is None
