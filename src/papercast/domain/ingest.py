"""What an ingest run produces: records, rejections with their location, and the report."""

from __future__ import annotations

from dataclasses import dataclass, field

from papercast.domain.papers import PaperRecord


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
