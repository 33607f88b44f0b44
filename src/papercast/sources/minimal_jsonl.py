"""Minimal JSON lines: `{"id", "title", "abstract"}` per line, optionally `authors` and `categories`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from papercast.domain.errors import InvalidInput
from papercast.domain.ingest import SourceItem
from papercast.domain.papers import Author, PaperRecord, author_from_name, parse_author_list
from papercast.sources.json_lines import (
    categories_field,
    id_field,
    records_from_json_lines,
    string_field,
)

_KIND = "a JSON-lines paper file"


class MinimalJsonlSource:
    """Papers from a JSON-lines file with at least `id`, `title` and `abstract` per line."""

    def __init__(self, path: Path, name: str = "jsonl") -> None:
        self.path = Path(path)
        self.name = name

    def items(self) -> Iterator[SourceItem]:
        return records_from_json_lines(self.path, source=self.name, kind=_KIND, build=record_from_minimal)


def record_from_minimal(obj: dict[str, Any], source: str, location: str = "") -> PaperRecord:
    """One minimal object as a record; raises `InvalidInput` (with `field`) when it has the wrong shape."""
    return PaperRecord(
        paper_id=id_field(obj),
        title=string_field(obj, "title"),
        source=source,
        abstract=string_field(obj, "abstract"),
        authors=_authors(obj.get("authors")),
        categories=categories_field(obj.get("categories")),
        comments=string_field(obj, "comments"),
        journal_ref=_either(obj, "journal_ref", "journal-ref"),
        doi=string_field(obj, "doi"),
        report_no=_either(obj, "report_no", "report-no"),
        license=string_field(obj, "license"),
        location=location,
    )


def _either(obj: dict[str, Any], key: str, snapshot_key: str) -> str:
    """A field under its Python name or the snapshot's hyphenated one."""
    return string_field(obj, key) or string_field(obj, snapshot_key)


def _authors(value: object) -> tuple[Author, ...]:
    if value is None or isinstance(value, str):
        return parse_author_list(value or "")
    if isinstance(value, list) and all(isinstance(name, str) for name in value):
        return tuple(author_from_name(name) for name in value if name.strip())
    raise InvalidInput("expected a string or a list of names", field="authors")

