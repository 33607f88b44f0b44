"""What an ingest run produces: records, rejections with their location, and the report."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, TypeVar

from papercast.domain.errors import InvalidInput, PapercastError, SourceError
from papercast.domain.papers import (
    Author,
    ExternalSignal,
    PaperRecord,
    PaperVersion,
    validate_record,
)

log = logging.getLogger("papercast.ingest")
T = TypeVar("T")
# What a report must not print as is: control characters (a terminal obeys escape sequences)
# and lone surrogates (no encoding can write them).
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_MAX_REASON = 300


@dataclass(frozen=True)
class Rejection:
    """A record that was not stored: where it was (`line 12`, `record 3 <1234.5678>`) and why.

    Location and reason often quote the record itself, so they are made safe to print.
    """

    location: str
    reason: str
    source: str = ""

    def __post_init__(self) -> None:
        for name in ("location", "reason"):
            value = getattr(self, name)
            if _UNPRINTABLE.search(value):
                object.__setattr__(self, name, _UNPRINTABLE.sub(_escaped, value))

    def as_dict(self) -> dict[str, str]:
        return {"source": self.source, "location": self.location, "reason": self.reason}


def _escaped(match: re.Match[str]) -> str:
    return repr(match[0])[1:-1]


# One item a source yields: a record to merge, or a rejection it already knows of.
SourceItem = PaperRecord | Rejection


def rejection_for(error: Exception, location: str, source: str) -> Rejection:
    """The rejection of one record whose building or validation raised `error`.

    Called for any exception, so that one record's unforeseen failure costs only that record;
    what is not an `InvalidInput` is logged with its traceback (at DEBUG) and named in the reason.
    """
    if isinstance(error, InvalidInput):
        return Rejection(location, str(error), source)
    log.debug("ingest.record_failed location=%s", location, exc_info=error)
    if isinstance(error, UnicodeError):
        reason = f"text is not valid Unicode ({error})"
    elif isinstance(error, OverflowError):
        reason = f"a number or date is out of range ({error})"
    elif isinstance(error, RecursionError):
        reason = "nested too deeply"
    else:
        reason = f"cannot read the record ({type(error).__name__}: {error})"
    return Rejection(location, reason[:_MAX_REASON], source)


def build_or_reject(build: Callable[[], PaperRecord], location: str, source: str) -> SourceItem:
    """`build()`'s record, or the rejection naming `location` when building it fails in any way."""
    try:
        return build()
    except Exception as error:  # noqa: BLE001 - one bad record must never stop the run; see rejection_for
        return rejection_for(error, location, source)


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
    for item in items:
        if isinstance(item, Rejection):
            rejections.append(item)
            continue
        try:
            records.append(validate_record(item))
        except Exception as error:  # noqa: BLE001 - one bad record must never cost its batch
            rejections.append(_invalid_record(item, error, source_name))
    return ValidatedBatch(records, rejections)


def _invalid_record(record: PaperRecord, error: Exception, source_name: str) -> Rejection:
    """Where the record was read (its line or element) when the source said, else its id."""
    paper_id = record.paper_id[:80] if isinstance(record.paper_id, str) else ""
    rejection = rejection_for(error, record.location or f"record {paper_id!r}", record.source or source_name)
    if record.location and paper_id and paper_id not in record.location:
        return Rejection(rejection.location, f"{paper_id}: {rejection.reason}", rejection.source)
    return rejection


def read_batches(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """`items` in lists of `size`. When reading fails part-way, the items read before the
    failure come as one last list, and then the failure is raised: nothing readable is lost."""
    iterator = iter(items)
    while True:
        chunk: list[T] = []
        failure: Exception | None = None
        try:
            for item in islice(iterator, size):
                chunk.append(item)
        except Exception as error:  # noqa: BLE001 - raised again below, after the items before it
            failure = error
        if chunk:
            yield chunk
        if failure is not None:
            raise failure
        if len(chunk) < size:
            return


class IngestStopped(SourceError):
    """Reading a source failed part-way. `report` counts what was stored before it stopped;
    the message and `code` are those of the failure."""

    def __init__(self, failure: PapercastError, report: IngestReport) -> None:
        super().__init__(str(failure), code=getattr(failure, "code", None) or type(failure).__name__)
        self.report = report


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
        record.location,
    )


def unpack_record(packed: tuple[Any, ...]) -> PaperRecord:
    """The record `pack_record` packed."""
    (paper_id, title, source, abstract, authors, categories, comments, journal_ref, doi, report_no,
     license_, withdrawn, versions, version, announced_on, signal, location) = packed
    return PaperRecord(
        paper_id=paper_id, title=title, source=source, abstract=abstract,
        authors=tuple([Author(*a) for a in authors]), categories=categories, comments=comments,
        journal_ref=journal_ref, doi=doi, report_no=report_no, license=license_, withdrawn=withdrawn,
        versions=tuple([PaperVersion(*v) for v in versions]), version=version, announced_on=announced_on,
        signal=None if signal is None else ExternalSignal(*signal), location=location,
    )
