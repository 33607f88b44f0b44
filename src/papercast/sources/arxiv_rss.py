"""arXiv's RSS 2.0 announcement feeds (rss.arxiv.org, 2024+ format with `arxiv:announce_type`)."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import BinaryIO
from xml.etree.ElementTree import Element

from papercast.domain.errors import InvalidInput, SourceError
from papercast.domain.ingest import SourceItem, build_or_reject
from papercast.domain.papers import PaperRecord, PaperVersion, parse_author_list, parse_paper_id
from papercast.sources.arxiv_fields import parse_rfc2822
from papercast.sources.xml_reading import RecordStream, child_text, stream_xml_file

SOURCE_NAME = "arxiv-rss"
KIND = "an arXiv RSS feed"
_ARXIV = "{http://arxiv.org/schemas/atom}"
_DC = "{http://purl.org/dc/elements/1.1/}"
# "arXiv:2604.21935v1 Announce Type: new \nAbstract: Although language models ..."
_DESCRIPTION = re.compile(
    r"^\s*arXiv:(?P<id>\S+)\s+Announce Type:\s*(?P<type>\S+)\s*(?:Abstract:\s*)?(?P<abstract>.*)$", re.DOTALL
)
# Announcements of a paper's first appearance; the others (replace, replace-cross) are later versions.
_FIRST_APPEARANCE = frozenset({"new", "cross"})


def parse_rss(data: bytes, *, origin: str = "input") -> list[SourceItem]:
    """The items of one feed. A feed with no items (weekends, holidays) is an empty list."""
    return list(read_rss(io.BytesIO(data), origin))


def read_rss(stream: BinaryIO, origin: str) -> Iterator[SourceItem]:
    """The items of one feed, read incrementally."""
    items = RecordStream(stream, origin=origin, kind=KIND, root_tags=("rss",), record_tag="item",
                         record_depth=3)
    for index, item in enumerate(items, start=1):
        yield _item(item, index)
    if items.root.find("channel") is None:
        raise SourceError(f"{origin} is not {KIND}: <rss> has no <channel>", code="wrong-format")


def _item(item: Element, index: int) -> SourceItem:
    guid = child_text(item, "guid").strip()
    location = f"item {index} ({guid[:100]})" if guid else f"item {index}"
    return build_or_reject(lambda: record_from_item(item, location), location, SOURCE_NAME)


def record_from_item(item: Element, location: str = "") -> PaperRecord:
    """One `<item>`: id and version from the guid/description, the abstract after "Abstract:".

    The announced version goes into `versions` (so the paper learns it exists) but not into
    `version`: RSS is a versionless source that only fills gaps in what other sources said.
    """
    description = child_text(item, "description")
    match = _DESCRIPTION.match(description)
    abstract = match["abstract"] if match else description
    raw_id = child_text(item, "guid").strip() or (match["id"] if match else "") or child_text(item, "link")
    if not raw_id.strip():
        raise InvalidInput("item has no guid, link or arXiv id", field="id")
    parsed = parse_paper_id(raw_id.strip())
    version = parsed.version
    if version is None and match:
        version = parse_paper_id(match["id"]).version
    announce_type = child_text(item, f"{_ARXIV}announce_type").strip() or (match["type"] if match else "")
    return PaperRecord(
        paper_id=parsed.paper_id,
        title=child_text(item, "title"),
        source=SOURCE_NAME,
        abstract=abstract,
        authors=parse_author_list(child_text(item, f"{_DC}creator")),
        categories=_categories(item),
        license=child_text(item, f"{_DC}rights").strip(),
        versions=(PaperVersion(version),) if version else (),
        announced_on=_pub_date(item) if announce_type in _FIRST_APPEARANCE else None,
        location=location,
    )


def _categories(item: Element) -> tuple[str, ...]:
    """The item's categories; arXiv lists the primary one first."""
    terms = ((element.text or "").strip() for element in item.findall("category"))
    return tuple(dict.fromkeys(term for term in terms if term))


def _pub_date(item: Element) -> date | None:
    """The announcement day as arXiv states it (`Mon, 27 Apr 2026 00:00:00 -0400`: 27 April)."""
    text = child_text(item, "pubDate").strip()
    return parse_rfc2822(text, field="pubDate").date() if text else None


class ArxivRssFileSource:
    """Papers from a saved arXiv RSS feed (raw XML, or a recorded `{"url", "status_code", "body"}`)."""

    name = SOURCE_NAME

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def items(self) -> Iterator[SourceItem]:
        return stream_xml_file(self.path, read_rss)
