"""Ingest writes a batch in sub-batches sized to a write budget, each in its own transaction, so
another writer (a vote, on SQLite) never waits for a whole batch; merging happens before the
write lock and again under it when another writer changed the catalog in between. The catalog
and the counts are those of one transaction per batch."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest

from papercast.bootstrap import Papercast, build
from papercast.domain.papers import Paper, PaperRecord, PaperVersion
from papercast.services.ingest import IngestService
from papercast.settings import Settings


class SteppingClock:
    """A monotonic clock that moves `step` seconds each time it is read: every write transaction
    seems to take `step` seconds, so sub-batch sizes follow from the budget alone."""

    def __init__(self, step: float) -> None:
        self.step, self.now_s = step, 0.0

    def monotonic(self) -> float:
        self.now_s += self.step
        return self.now_s

    def now(self) -> Any:
        raise AssertionError("not used")

    def sleep(self, seconds: float) -> None:
        raise AssertionError("not used")


class CountingUnits:
    def __init__(self, units: Any) -> None:
        self.units, self.begun = units, 0

    def begin(self) -> AbstractContextManager[Any]:
        self.begun += 1
        return self.units.begin()  # type: ignore[no-any-return]


@pytest.fixture
def papercast(database_url: str, tmp_path: Path) -> Iterator[Papercast]:
    app = build(Settings.load(env={}, data_dir=tmp_path, database_url=database_url))
    yield app
    app.close()


def records(count: int, version: int = 1) -> list[PaperRecord]:
    return [PaperRecord(paper_id=f"2401.{n:05d}", title=f"Paper {n} v{version}", source="test",
                        versions=tuple(PaperVersion(v) for v in range(1, version + 1)), version=version)
            for n in range(count)]


def test_a_batch_is_written_in_budgeted_sub_batches_with_the_same_result(papercast: Papercast,
                                                                         database_url: str,
                                                                         tmp_path: Path) -> None:
    units = CountingUnits(papercast.units)
    # Each transaction "takes" 0.1 s, the whole budget: the first size (200) is what fits.
    service = IngestService(units, batch_size=1000, reads=papercast.papers, clock=SteppingClock(0.1),
                            write_budget=0.1)
    report = service.ingest(records(1000) + records(10, version=2))
    assert (report.new, report.updated, report.unchanged) == (1000, 10, 0)
    assert units.begun == 6  # five of 200 records, then the 10 updates
    assert papercast.papers.count() == 1000 and papercast.papers.max_change_seq() == 1010
    assert papercast.catalog.paper("2401.00003").title == "Paper 3 v2"
    again = service.ingest(records(1000) + records(10, version=2))
    assert (again.new, again.updated, again.unchanged) == (0, 0, 1010)
    counted = CountingUnits(papercast.units)
    faster = IngestService(counted, batch_size=1000, reads=papercast.papers, write_budget=0.1,
                           clock=SteppingClock(0.025))  # 0.025 s for 200: room for 800, doubling at most
    faster.ingest(records(1200, version=3))
    assert counted.begun == 4  # 200, 400, 400 of the first batch; the second's 200 at once


class RacingReads:
    """Reads papers for the merge, then lets another writer store a newer version before the
    ingest takes the write lock (what a concurrent harvest could do)."""

    def __init__(self, papercast: Papercast, racer: PaperRecord) -> None:
        self.papercast, self.racer, self.raced = papercast, racer, False

    def get_many(self, paper_ids: Sequence[str], *, history: bool = True) -> dict[str, Paper]:
        found = self.papercast.papers.get_many(paper_ids, history=history)
        if not self.raced:
            self.raced = True
            self.papercast.ingest.ingest([self.racer])
        return found

    def max_change_seq(self) -> int:
        return self.papercast.papers.max_change_seq()


def test_a_write_between_merging_and_locking_is_merged_again_not_overwritten(papercast: Papercast) -> None:
    papercast.ingest.ingest(records(3))
    newer = records(1, version=2)[0]
    service = IngestService(papercast.units, batch_size=100, reads=RacingReads(papercast, newer))
    stale = PaperRecord(paper_id="2401.00000", title="Paper 0, v1 metadata again", source="other",
                        versions=(PaperVersion(1),), version=1)
    report = service.ingest([stale])
    assert report.unchanged == 1  # merged again under the lock: v1 changes nothing of v2
    assert papercast.catalog.paper("2401.00000").title == "Paper 0 v2"

