"""The Kaggle arXiv metadata snapshot: one JSON object per line, streamed (the real file is 4 GB)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from papercast.domain.errors import InvalidInput
from papercast.domain.ingest import SourceItem
from papercast.domain.papers import (
    Author,
    PaperRecord,
    PaperVersion,
    author_from_name,
    author_from_parts,
    parse_author_list,
)
from papercast.sources.arxiv_fields import parse_arxiv_datetime, says_withdrawn, version_number
from papercast.sources.json_lines import (
    categories_field,
    id_field,
    records_from_json_lines,
    string_field,
)

_KIND = "an arXiv metadata snapshot (JSON lines)"


class SnapshotJsonlSource:
    """Papers from a snapshot file (`.json`/`.jsonl`, or gzip-compressed), one line at a time."""

    name = "arxiv-snapshot"

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def items(self) -> Iterator[SourceItem]:
        return records_from_json_lines(self.path, source=self.name, kind=_KIND, build=record_from_snapshot)


def record_from_snapshot(obj: dict[str, Any], source: str, location: str = "") -> PaperRecord:
    """One snapshot object as a record; raises `InvalidInput` (with `field`) when it has the wrong shape.

    Withdrawal is read from the comments, which in the snapshot belong to the latest version.
    """
    if not isinstance(obj, dict):
        raise InvalidInput("expected a JSON object", field="record")
    comments = string_field(obj, "comments")
    versions = _versions(obj.get("versions"))  # the full history: this record is its newest version
    return PaperRecord(
        paper_id=id_field(obj),
        title=string_field(obj, "title"),
        source=source,
        abstract=string_field(obj, "abstract"),
        authors=_authors(obj),
        categories=categories_field(obj.get("categories")),
        comments=comments,
        journal_ref=string_field(obj, "journal-ref"),
        doi=string_field(obj, "doi"),
        report_no=string_field(obj, "report-no"),
        license=string_field(obj, "license"),
        withdrawn=says_withdrawn(comments),
        versions=versions,
        version=max((v.number for v in versions), default=None),
        location=location,
    )


def _authors(obj: dict[str, Any]) -> tuple[Author, ...]:
    parsed = obj.get("authors_parsed")
    if parsed:
        return authors_from_parsed(parsed)
    authors = obj.get("authors")
    if authors is None or isinstance(authors, str):
        return parse_author_list(authors or "")
    if isinstance(authors, list) and all(isinstance(a, str) for a in authors):
        return tuple(author_from_name(a) for a in authors if a.strip())
    raise InvalidInput("expected a string or a list of names", field="authors")


def authors_from_parsed(parsed: object) -> tuple[Author, ...]:
    """Authors from the snapshot's `authors_parsed`: `[[last, first, suffix], ...]`.

    Equivalent to `author_from_parts` per entry, but skips its whitespace clean-up when no part
    needs it (nearly always): the snapshot has ~16 million author entries, and that clean-up
    was most of the parsing time.
    """
    if not isinstance(parsed, list):
        raise InvalidInput("expected a list of [last, first, suffix]", field="authors_parsed")
    authors = []
    for parts in parsed:
        if isinstance(parts, list) and len(parts) == 3:
            last, first, suffix = parts
        else:
            last, first, suffix = _padded_parts(parts)
        if not (isinstance(last, str) and isinstance(first, str) and isinstance(suffix, str)):
            raise InvalidInput(f"expected [last, first, suffix], got {parts!r:.80}", field="authors_parsed")
        # Printable text holds no whitespace but ASCII spaces; clean parts have them single and inside.
        probe = f"|{last}|{first}|{suffix}|"
        if probe.isprintable() and "  " not in probe and "| " not in probe and " |" not in probe:
            name = f"{first} {last}" if first and last else first or last
            name = f"{name}, {suffix}" if suffix else name
            author = Author(name, last, first, suffix)
        else:
            author = author_from_parts(last, first, suffix)
        if author.name:
            authors.append(author)
    return tuple(authors)


def _padded_parts(parts: object) -> tuple[object, object, object]:
    if isinstance(parts, list) and parts:
        padded = (*parts[:3], "", "")
        return padded[0], padded[1], padded[2]
    raise InvalidInput(f"expected [last, first, suffix], got {parts!r:.80}", field="authors_parsed")


def _versions(value: object) -> tuple[PaperVersion, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise InvalidInput("expected a list of {version, created}", field="versions")
    versions = []
    for item in value:
        label = item.get("version") if isinstance(item, dict) else None
        created = item.get("created") if isinstance(item, dict) else None
        if not isinstance(label, str) or not (created is None or isinstance(created, str)):
            raise InvalidInput(f"expected {{version, created}}, got {item!r:.80}", field="versions")
        number = version_number(label)
        versions.append(PaperVersion(number, parse_arxiv_datetime(created) if created else None))
    return tuple(versions)
