"""What an ingest run produces: records, rejections with their location, and the report."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from papercast.domain.errors import InvalidInput
from papercast.domain.papers import (
    Author,
    ExternalSignal,
    PaperRecord,
    PaperVersion,
    validate_record,
)


@dataclass(frozen=True)
class Rejection:
    """A record that was not stored: where it was (`line 12`, `record 3 <1234.5678>`) and why."""

    location: str
    reason: str
    source: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"source": self.source, "location": self.location, "reason": self.reason}


# One item a source yields: a record to merge, or a rejection it already knows of.
SourceItem = PaperRecord | Rejection


@dataclass
class IngestReport:
    """Counts of one ingest run; `rejections` lists every record that was not stored."""

    new: int = 0
    updated: int = 0
    unchanged: int = 0
    rejections: list[Rejection] = field(default_factory=list)

    @property
    def rejected(self) -> int:
        return len(self.rejections)

    @property
    def seen(self) -> int:
        return self.new + self.updated + self.unchanged + self.rejected

    def add(self, other: IngestReport) -> None:
        self.new += other.new
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.rejections.extend(other.rejections)

    def as_dict(self) -> dict[str, object]:
        return {
            "new": self.new,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": self.rejected,
            "rejections": [r.as_dict() for r in self.rejections],
        }


@dataclass
class ValidatedBatch:
    """One batch of source items after validation, in input order.

    A batch travels between processes (ingest's read-ahead): pickled, its records go as plain
    tuples (`pack_record`), about a third of the cost of pickling the dataclasses.
    """

    records: list[PaperRecord]
    rejections: list[Rejection]

    def __getstate__(self) -> dict[str, Any]:
        return {"records": [pack_record(r) for r in self.records], "rejections": self.rejections}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.records = [unpack_record(packed) for packed in state["records"]]
        self.rejections = state["rejections"]


def validate_items(items: Sequence[SourceItem], source_name: str = "") -> ValidatedBatch:
    """Validate one batch; a record that breaks a rule becomes a rejection naming it and why."""
    records: list[PaperRecord] = []
    rejections: list[Rejection] = []
    for position, item in enumerate(items):
        if isinstance(item, Rejection):
            rejections.append(item)
            continue
        try:
            records.append(validate_record(item))
        except InvalidInput as error:
            location = f"record {item.paper_id[:80]!r}" if item.paper_id else f"item {position + 1}"
            rejections.append(Rejection(location, str(error), item.source or source_name))
    return ValidatedBatch(records, rejections)


def pack_record(record: PaperRecord) -> tuple[Any, ...]:
    """A record as nested tuples of plain values, in `PaperRecord` field order (see `unpack_record`)."""
    signal = record.signal
    return (
        record.paper_id, record.title, record.source, record.abstract,
        tuple([(a.name, a.last, a.first, a.suffix) for a in record.authors]),
        record.categories, record.comments, record.journal_ref, record.doi, record.report_no,
        record.license, record.withdrawn,
        tuple([(v.number, v.submitted_at) for v in record.versions]),
        record.version, record.announced_on,
        None if signal is None else (signal.source, signal.upvotes, signal.comments,
                                     signal.github_stars, signal.observed_on),
    )


def unpack_record(packed: tuple[Any, ...]) -> PaperRecord:
    """The record `pack_record` packed."""
    (paper_id, title, source, abstract, authors, categories, comments, journal_ref, doi, report_no,
     license_, withdrawn, versions, version, announced_on, signal) = packed
    return PaperRecord(
        paper_id=paper_id, title=title, source=source, abstract=abstract,
        authors=tuple([Author(*a) for a in authors]), categories=categories, comments=comments,
        journal_ref=journal_ref, doi=doi, report_no=report_no, license=license_, withdrawn=withdrawn,
        versions=tuple([PaperVersion(*v) for v in versions]), version=version, announced_on=announced_on,
        signal=None if signal is None else ExternalSignal(*signal),
    )
