"""arXiv query API responses (Atom 1.0), in both the current (2025+) and the legacy (pre-2025) format."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO
from xml.etree.ElementTree import Element

from papercast.domain.errors import SourceError
from papercast.domain.ingest import Rejection, SourceItem, build_or_reject
from papercast.domain.papers import PaperRecord, PaperVersion, author_from_name, parse_paper_id
from papercast.sources.arxiv_fields import parse_iso_datetime, says_withdrawn
from papercast.sources.file_reading import parse_file
from papercast.sources.xml_reading import RecordStream, child_text, int_or_none, stream_xml_file

SOURCE_NAME = "arxiv-api"
KIND = "an arXiv API Atom feed"
_ATOM = "{http://www.w3.org/2005/Atom}"
_OPENSEARCH = "{http://a9.com/-/spec/opensearch/1.1/}"
_ARXIV = "{http://arxiv.org/schemas/atom}"
_ERROR_IDS = ("http://arxiv.org/api/errors", "https://arxiv.org/api/errors")


@dataclass
class ApiPage:
    """One page of API results and the OpenSearch paging numbers (None when the feed omits them)."""

    items: list[SourceItem]
    total_results: int | None
    start_index: int | None
    items_per_page: int | None


def parse_api_feed(data: bytes, *, origin: str = "input") -> ApiPage:
    """Parse one API response. An arXiv error entry raises `SourceError(code="arxiv-api-error")`."""
    return ApiFeedReader(io.BytesIO(data), origin).page()


class ApiFeedReader:
    """The entries of one API response, read incrementally; `page` adds the paging numbers."""

    def __init__(self, stream: BinaryIO, origin: str) -> None:
        self._entries = RecordStream(stream, origin=origin, kind=KIND, root_tags=(f"{_ATOM}feed",),
                                     record_tag=f"{_ATOM}entry", record_depth=2)

    def items(self) -> Iterator[SourceItem]:
        """Each entry as a record or a rejection. An error entry raises `SourceError`: one whose
        id is arXiv's error URL, or a feed's only entry when it is titled "Error"."""
        lone_error: Element | None = None
        for index, entry in enumerate(self._entries, start=1):
            _raise_for_error_id(entry)
            if index == 1 and child_text(entry, f"{_ATOM}title").strip() == "Error":
                lone_error = entry  # an error if no other entry follows
                continue
            if lone_error is not None:
                yield _entry_item(lone_error, 1)
                lone_error = None
            yield _entry_item(entry, index)
        if lone_error is not None:
            raise _error_from(lone_error)

    def page(self) -> ApiPage:
        """All the entries, with the feed's paging numbers."""
        items = list(self.items())
        root = self._entries.root

        def number(tag: str) -> int | None:
            return int_or_none(root.findtext(f"{_OPENSEARCH}{tag}"))

        return ApiPage(items, number("totalResults"), number("startIndex"), number("itemsPerPage"))


def _raise_for_error_id(entry: Element) -> None:
    if child_text(entry, f"{_ATOM}id").strip().startswith(_ERROR_IDS):
        raise _error_from(entry)


def _error_from(entry: Element) -> SourceError:
    summary = " ".join(child_text(entry, f"{_ATOM}summary").split())
    message = summary or child_text(entry, f"{_ATOM}id").strip() or "no message"
    return SourceError(f"arXiv API error: {message}", code="arxiv-api-error")


def _entry_item(entry: Element, index: int) -> SourceItem:
    raw_id = child_text(entry, f"{_ATOM}id").strip()
    location = f"entry {index} ({raw_id[:100]})" if raw_id else f"entry {index}"
    if not raw_id:
        return Rejection(location, "entry has no <id>", SOURCE_NAME)
    return build_or_reject(lambda: record_from_entry(entry, location), location, SOURCE_NAME)


def record_from_entry(entry: Element, location: str = "") -> PaperRecord:
    """One Atom `<entry>` as a record of the version its id names (`.../abs/2104.12255v1`)."""
    parsed = parse_paper_id(child_text(entry, f"{_ATOM}id"))
    comments = child_text(entry, f"{_ARXIV}comment")
    return PaperRecord(
        paper_id=parsed.paper_id,
        title=child_text(entry, f"{_ATOM}title"),
        source=SOURCE_NAME,
        abstract=child_text(entry, f"{_ATOM}summary"),
        authors=tuple(
            author_from_name(name)
            for name in (a.findtext(f"{_ATOM}name") or "" for a in entry.findall(f"{_ATOM}author"))
            if name.strip()
        ),
        categories=_categories(entry),
        comments=comments,
        journal_ref=child_text(entry, f"{_ARXIV}journal_ref"),
        doi=child_text(entry, f"{_ARXIV}doi"),
        withdrawn=says_withdrawn(comments),
        versions=_versions(entry, parsed.version),
        version=parsed.version,
        location=location,
    )


def _categories(entry: Element) -> tuple[str, ...]:
    primary = entry.find(f"{_ARXIV}primary_category")
    terms = [primary.get("term", "")] if primary is not None else []
    terms.extend(c.get("term", "") for c in entry.findall(f"{_ATOM}category"))
    return tuple(dict.fromkeys(t.strip() for t in terms if t.strip()))


def _versions(entry: Element, number: int | None) -> tuple[PaperVersion, ...]:
    """`published` is when v1 was submitted; `updated` is when the version in the id was."""
    published = _optional_datetime(entry, "published")
    updated = _optional_datetime(entry, "updated")
    if number is None or number == 1:
        first = published or (updated if number == 1 else None)
        return (PaperVersion(1, first),) if first else ()
    if published is None:
        return (PaperVersion(number, updated),)
    return PaperVersion(1, published), PaperVersion(number, updated)


def _optional_datetime(entry: Element, tag: str) -> datetime | None:
    text = child_text(entry, f"{_ATOM}{tag}").strip()
    return parse_iso_datetime(text, field=tag) if text else None


class ArxivApiFileSource:
    """Papers from a saved API response: raw Atom XML, or a recorded `{"url", "status_code", "body"}`."""

    name = SOURCE_NAME

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def items(self) -> Iterator[SourceItem]:
        return stream_xml_file(self.path, lambda stream, origin: ApiFeedReader(stream, origin).items())

    def page(self) -> ApiPage:
        """The whole page, with its paging numbers."""
        return parse_file(self.path, lambda data, origin: parse_api_feed(data, origin=origin))
