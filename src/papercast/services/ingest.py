"""Ingest: validate records from any source and merge them into the catalog, idempotently.

Every source feeds this one upsert. A batch is read, merged and written in one serialised
transaction, so a re-run changes nothing and an older version arriving late changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from itertools import islice
from typing import Protocol

from papercast.domain.errors import InvalidInput
from papercast.domain.ingest import IngestReport, Rejection, SourceItem
from papercast.domain.papers import Outcome, Paper, PaperRecord, merge, paper_from_record, validate_record

log = logging.getLogger("papercast.ingest")

# Called after each committed batch with the running report (progress bars, cursors).
BatchHook = Callable[[IngestReport], None]


class WriteBatch(Protocol):
    def get_many(self, paper_ids: Sequence[str]) -> dict[str, Paper]: ...

    def save(self, changes: Sequence[tuple[Outcome, Paper]]) -> int: ...

    def set_cursor(self, name: str, state: dict[str, str]) -> None: ...


class BatchWriter(Protocol):
    def write_batch(self) -> AbstractContextManager[WriteBatch]: ...


class IngestService:
    """Merges records into stored papers, `batch_size` records per transaction."""

    def __init__(self, papers: BatchWriter, batch_size: int = 1000) -> None:
        self._papers = papers
        self._batch_size = max(1, batch_size)

    def ingest(self, items: Iterable[SourceItem], source_name: str = "",
               on_batch: BatchHook | None = None) -> IngestReport:
        """Ingest every item; parse-time rejections are reported alongside validation ones."""
        report = IngestReport()
        iterator = iter(items)
        while True:
            chunk = list(islice(iterator, self._batch_size))
            if not chunk:
                break
            report.add(self.ingest_batch(chunk, source_name))
            if on_batch is not None:
                on_batch(report)
        log.info("ingest.done source=%s new=%d updated=%d unchanged=%d rejected=%d", source_name,
                 report.new, report.updated, report.unchanged, report.rejected)
        return report

    def ingest_batch(self, items: Sequence[SourceItem], source_name: str = "",
                     cursor: tuple[str, dict[str, str]] | None = None) -> IngestReport:
        """Validate, merge and write one batch in a single transaction.

        `cursor` (name, state) is written in that same transaction, so a harvest that stops
        between pages resumes after the last page whose papers were committed.
        """
        report = IngestReport()
        records: list[PaperRecord] = []
        for position, item in enumerate(items):
            if isinstance(item, Rejection):
                report.rejections.append(item)
                continue
            try:
                records.append(validate_record(item))
            except InvalidInput as error:
                location = f"record {item.paper_id[:80]!r}" if item.paper_id else f"item {position + 1}"
                report.rejections.append(Rejection(location, str(error), item.source or source_name))
        if not records and cursor is None:
            return report
        with self._papers.write_batch() as batch:
            stored = batch.get_many([r.paper_id for r in records])
            changes = self._merge_all(records, stored, report)
            batch.save(list(changes.values()))
            if cursor is not None:
                batch.set_cursor(*cursor)
        return report

    @staticmethod
    def _merge_all(records: Sequence[PaperRecord], stored: dict[str, Paper],
                   report: IngestReport) -> dict[str, tuple[Outcome, Paper]]:
        """Merge in order; a paper seen twice in one batch counts once, as its final outcome."""
        changes: dict[str, tuple[Outcome, Paper]] = {}
        for record in records:
            previous = changes.get(record.paper_id)
            current = previous[1] if previous else stored.get(record.paper_id)
            if current is None:
                changes[record.paper_id] = (Outcome.NEW, paper_from_record(record))
                report.new += 1
                continue
            outcome, merged = merge(current, record)
            if previous is not None:
                # Already counted in this batch: keep NEW as NEW, fold further updates in.
                if outcome is Outcome.UPDATED:
                    changes[record.paper_id] = (previous[0], merged)
                report.unchanged += 1
                continue
            if outcome is Outcome.UPDATED:
                changes[record.paper_id] = (Outcome.UPDATED, merged)
                report.updated += 1
            else:
                report.unchanged += 1
        return changes

