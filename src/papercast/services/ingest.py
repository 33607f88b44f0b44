"""Ingest: validate records from any source and merge them into the catalog, idempotently.

Every source feeds this one upsert: a re-run changes nothing, and an older version arriving late
changes nothing. A batch is validated as one and written in serialised transactions: the whole
batch in one, or (given `reads`: on SQLite, whose one write lock a vote also needs) in
sub-batches of about `write_budget` seconds of writing, each read and merged before its
transaction takes the lock, and again under it if another writer changed the catalog meanwhile,
so a vote waits for one sub-batch at most. A large file can be read and validated by a
`ReadAhead` (another process) while this one writes the batch before: the batches, their order
and the result are the same.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence

from papercast.clock import Clock, SystemClock
from papercast.domain.errors import PapercastError
from papercast.domain.ingest import (
    IngestReport,
    IngestStopped,
    SourceItem,
    ValidatedBatch,
    read_batches,
    validate_items,
)
from papercast.domain.papers import Outcome, Paper, PaperRecord, merge, paper_from_record
from papercast.ports import PaperReads, PaperSource, ReadAhead, UnitOfWork

log = logging.getLogger("papercast.ingest")

# Called after each committed batch with the running report (progress bars, cursors).
BatchHook = Callable[[IngestReport], None]
# How long one sub-batch may hold the write lock (SQLite: every other writer, votes included,
# waits that long at most), and the sub-batch sizes it is adapted between.
WRITE_BUDGET_SECONDS = 0.075
FIRST_SUB_BATCH = 200
MIN_SUB_BATCH = 20


class IngestService:
    """Merges records into stored papers: `batch_size` records validated at once, written in
    sub-batches of about `write_budget` seconds each (or the whole batch, without `reads`)."""

    def __init__(self, units: UnitOfWork, batch_size: int = 1000,
                 read_ahead: ReadAhead | None = None, *, reads: PaperReads | None = None,
                 clock: Clock | None = None, write_budget: float = WRITE_BUDGET_SECONDS) -> None:
        self._units = units
        self._batch_size = max(1, batch_size)
        self._read_ahead = read_ahead
        self._reads = reads
        self._clock = clock or SystemClock()
        self._write_budget = write_budget
        self._sub_batch = min(FIRST_SUB_BATCH, self._batch_size)

    def ingest_source(self, source: PaperSource, on_batch: BatchHook | None = None) -> IngestReport:
        """Ingest everything `source` yields; a large file is read ahead in another process."""
        batches = self._read_ahead.batches(source, self._batch_size) if self._read_ahead else None
        if batches is None:
            return self.ingest(source.items(), source.name, on_batch)
        try:
            return self._ingest_validated(batches, source.name, on_batch)
        finally:
            batches.close()

    def ingest(self, items: Iterable[SourceItem], source_name: str = "",
               on_batch: BatchHook | None = None) -> IngestReport:
        """Ingest every item; parse-time rejections are reported alongside validation ones."""
        return self._ingest_validated(self._validated(items, source_name), source_name, on_batch)

    def _validated(self, items: Iterable[SourceItem], source_name: str) -> Iterator[ValidatedBatch]:
        for chunk in read_batches(items, self._batch_size):
            yield validate_items(chunk, source_name)

    def _ingest_validated(self, batches: Iterable[ValidatedBatch], source_name: str,
                          on_batch: BatchHook | None) -> IngestReport:
        """Write batch after batch. When reading the source fails (a truncated file), what was
        read before is written first, and `IngestStopped` carries the report of what was stored."""
        report = IngestReport()
        iterator = iter(batches)
        while True:
            try:
                batch = next(iterator, None)
            except PapercastError as failure:
                log.info("ingest.stopped source=%s new=%d updated=%d unchanged=%d rejected=%d error=%s",
                         source_name, report.new, report.updated, report.unchanged, report.rejected, failure)
                raise IngestStopped(failure, report) from failure
            if batch is None:
                break
            report.add(self._write(batch))
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
        return self._write(validate_items(items, source_name), cursor)

    def _write(self, validated: ValidatedBatch,
               cursor: tuple[str, dict[str, str]] | None = None) -> IngestReport:
        report = IngestReport(rejections=list(validated.rejections))
        records = validated.records
        if not records and cursor is None:
            return report
        if self._reads is None:
            report.add(self._write_records(records, cursor))
            return report
        start = 0
        while True:
            chunk = records[start:start + self._sub_batch]
            start += len(chunk)
            last = start >= len(records)
            # A harvest's cursor commits with the page's last papers: a stop before it re-reads the page.
            report.add(self._write_records(chunk, cursor if last else None))
            if last:
                return report

    def _write_records(self, records: Sequence[PaperRecord],
                       cursor: tuple[str, dict[str, str]] | None) -> IngestReport:
        """Merge and write `records` in one transaction; their counts once it committed."""
        prepared = self._merged_outside_the_lock(records)
        with self._units.begin() as transaction:
            started = self._clock.monotonic()
            papers = transaction.papers
            if prepared is None or papers.max_change_seq() != prepared[0]:
                prepared = (0, *self._merged(records, papers.get_many([r.paper_id for r in records])))
            _, changes, counts = prepared
            papers.save(list(changes.values()))
            if cursor is not None:
                papers.set_cursor(*cursor)
        if self._reads is not None and records:
            self._adapt(len(records), self._clock.monotonic() - started)
        return counts

    def _merged_outside_the_lock(self, records: Sequence[PaperRecord]) -> tuple[
            int, dict[str, tuple[Outcome, Paper]], IngestReport] | None:
        """(the catalog's change counter, changes, counts) merged from what is stored now; None
        when there is no reader (merged under the lock instead)."""
        if self._reads is None or not records:
            return None
        seen = self._reads.max_change_seq()
        return (seen, *self._merged(records, self._reads.get_many([r.paper_id for r in records])))

    def _merged(self, records: Sequence[PaperRecord],
                stored: dict[str, Paper]) -> tuple[dict[str, tuple[Outcome, Paper]], IngestReport]:
        counts = IngestReport()
        return self._merge_all(records, stored, counts), counts

    def _adapt(self, size: int, seconds: float) -> None:
        """The next sub-batch's size: what fits the write budget at this sub-batch's pace."""
        per_record = max(seconds, 1e-6) / size
        wanted = int(self._write_budget / per_record)
        # At most doubling at a time: one fast sub-batch (all unchanged papers) is no promise.
        self._sub_batch = max(MIN_SUB_BATCH, min(wanted, 2 * size, self._batch_size))

    @staticmethod
    def _merge_all(records: Sequence[PaperRecord], stored: dict[str, Paper],
                   report: IngestReport) -> dict[str, tuple[Outcome, Paper]]:
        """Merge in order. Each record counts by what it did to the paper as the records before
        it left it, so the counts are those of one record per batch, whatever the batch size."""
        changes: dict[str, tuple[Outcome, Paper]] = {}
        for record in records:
            previous = changes.get(record.paper_id)
            current = previous[1] if previous else stored.get(record.paper_id)
            if current is None:
                changes[record.paper_id] = (Outcome.NEW, paper_from_record(record))
                report.new += 1
                continue
            outcome, merged = merge(current, record)
            if outcome is Outcome.UPDATED:
                # A paper first written in this batch is still inserted, not updated.
                changes[record.paper_id] = (previous[0] if previous else Outcome.UPDATED, merged)
                report.updated += 1
            else:
                report.unchanged += 1
        return changes

