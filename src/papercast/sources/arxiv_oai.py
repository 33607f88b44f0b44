"""arXiv OAI-PMH responses (ListRecords, GetRecord) in the `arXivRaw`, `arXiv` and `oai_dc` formats."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO
from xml.etree.ElementTree import Element

from papercast.domain.errors import InvalidInput, SourceError
from papercast.domain.ingest import Rejection, SourceItem, build_or_reject
from papercast.domain.papers import (
    Author,
    PaperRecord,
    PaperVersion,
    author_from_name,
    author_from_parts,
    parse_author_list,
    parse_paper_id,
)
from papercast.sources.arxiv_fields import (
    parse_arxiv_datetime,
    parse_iso_date,
    says_withdrawn,
    split_categories,
    version_number,
)
from papercast.sources.file_reading import parse_file
from papercast.sources.xml_reading import (
    RecordStream,
    all_text,
    child_text,
    int_or_none,
    local_name,
    stream_xml_file,
)

SOURCE_NAME = "arxiv-oai"
KIND = "an OAI-PMH response"
_OAI = "{http://www.openarchives.org/OAI/2.0/}"
_RAW = "{http://arxiv.org/OAI/arXivRaw/}"
_ARXIV = "{http://arxiv.org/OAI/arXiv/}"
_OAI_DC = "{http://www.openarchives.org/OAI/2.0/oai_dc/}"
_DC = "{http://purl.org/dc/elements/1.1/}"
DELETED_REASON = "deleted record in OAI-PMH (arXiv keeps no deletions; ignored)"


@dataclass
class OaiPage:
    """One OAI-PMH response: its records and where the list continues (`resumption_token`)."""

    items: list[SourceItem]
    resumption_token: str | None
    complete_list_size: int | None
    cursor: int | None
    response_date: str | None


def parse_oai_response(data: bytes, *, origin: str = "input") -> OaiPage:
    """Parse one response. An `<error code=...>` raises `SourceError` carrying that code."""
    return OaiResponseReader(io.BytesIO(data), origin).page()


class OaiResponseReader:
    """The records of one OAI-PMH response, read incrementally; `page` adds where the list continues.

    OAI-PMH puts `<error>` before any records, and an error response has none: errors and a
    missing `ListRecords`/`GetRecord` are raised once the document has been read.
    """

    def __init__(self, stream: BinaryIO, origin: str) -> None:
        self._origin = origin
        self._records = RecordStream(stream, origin=origin, kind=KIND, root_tags=(f"{_OAI}OAI-PMH",),
                                     record_tag=f"{_OAI}record", record_depth=3)

    def items(self) -> Iterator[SourceItem]:
        for index, record in enumerate(self._records, start=1):
            yield _record_item(record, index)
        _raise_for_errors(self._records.root)
        _records_container(self._records.root, self._origin)

    def page(self) -> OaiPage:
        """All the records, with where the list continues."""
        items = list(self.items())
        root = self._records.root
        container = _records_container(root, self._origin)
        token = container.find(f"{_OAI}resumptionToken")
        attributes = token.attrib if token is not None else {}
        token_text = (token.text or "").strip() if token is not None else ""
        return OaiPage(
            items=items,
            resumption_token=token_text or None,  # an empty token marks the last page
            complete_list_size=int_or_none(attributes.get("completeListSize")),
            cursor=int_or_none(attributes.get("cursor")),
            response_date=(root.findtext(f"{_OAI}responseDate") or "").strip() or None,
        )


def _records_container(root: Element, origin: str) -> Element:
    for verb in ("ListRecords", "GetRecord"):
        container = root.find(f"{_OAI}{verb}")
        if container is not None:
            return container
    found = ", ".join(f"<{local_name(child.tag)}>" for child in root) or "nothing"
    raise SourceError(
        f"{origin}: expected ListRecords or GetRecord in the OAI-PMH response, found {found}",
        code="unsupported-verb",
    )


def _raise_for_errors(root: Element) -> None:
    errors = root.findall(f"{_OAI}error")
    if not errors:
        return
    first = errors[0]
    code = first.get("code", "unknown")
    messages = "; ".join(all_text(error) or error.get("code", "") for error in errors)
    raise SourceError(f"OAI-PMH error {code}: {messages}", code=code)


def _record_item(record: Element, index: int) -> SourceItem:
    header = record.find(f"{_OAI}header")
    identifier = child_text(header, f"{_OAI}identifier").strip() if header is not None else ""
    location = f"record {index} ({identifier[:100]})" if identifier else f"record {index}"
    if header is not None and header.get("status") == "deleted":
        return Rejection(location, DELETED_REASON, SOURCE_NAME)
    metadata = record.find(f"{_OAI}metadata")
    body = next(iter(metadata), None) if metadata is not None else None
    if body is None:
        return Rejection(location, "record has no metadata", SOURCE_NAME)
    build = _BUILDERS.get(body.tag)
    if build is None:
        return Rejection(location, f"unsupported metadata format <{local_name(body.tag)}>", SOURCE_NAME)
    return build_or_reject(lambda: build(body, identifier, location), location, SOURCE_NAME)


def _paper_id(body_id: str, identifier: str) -> str:
    """The canonical id from the metadata's id (or abs URL), else from the header's `oai:arXiv.org:...`."""
    raw = body_id.strip() or identifier
    if not raw:
        raise InvalidInput("record has no id", field="id")
    return parse_paper_id(raw).paper_id


def record_from_arxiv_raw(body: Element, identifier: str = "", location: str = "") -> PaperRecord:
    """An `arXivRaw` record: every version with its date and size, authors as one string."""
    versions = []
    sizes = []
    for element in body.findall(f"{_RAW}version"):
        date_text = child_text(element, f"{_RAW}date").strip()
        submitted = parse_arxiv_datetime(date_text) if date_text else None
        versions.append(PaperVersion(version_number(element.get("version", "")), submitted))
        sizes.append(child_text(element, f"{_RAW}size").strip().lower())
    comments = child_text(body, f"{_RAW}comments")
    latest_size = sizes[-1] if sizes else ""
    return PaperRecord(
        paper_id=_paper_id(child_text(body, f"{_RAW}id"), identifier),
        title=child_text(body, f"{_RAW}title"),
        source=SOURCE_NAME,
        abstract=child_text(body, f"{_RAW}abstract"),
        authors=parse_author_list(child_text(body, f"{_RAW}authors")),
        categories=split_categories(child_text(body, f"{_RAW}categories")),
        comments=comments,
        journal_ref=child_text(body, f"{_RAW}journal-ref"),
        doi=child_text(body, f"{_RAW}doi"),
        report_no=child_text(body, f"{_RAW}report-no"),
        license=child_text(body, f"{_RAW}license"),
        withdrawn=latest_size == "0kb" or says_withdrawn(comments),
        versions=tuple(versions),
        version=max((v.number for v in versions), default=None),  # arXivRaw has the full history
        location=location,
    )


def record_from_arxiv(body: Element, identifier: str = "", location: str = "") -> PaperRecord:
    """An `arXiv` record: structured authors, but only the dates of v1 (`created`) and the latest."""
    created = child_text(body, f"{_ARXIV}created").strip()
    comments = child_text(body, f"{_ARXIV}comments")
    return PaperRecord(
        paper_id=_paper_id(child_text(body, f"{_ARXIV}id"), identifier),
        title=child_text(body, f"{_ARXIV}title"),
        source=SOURCE_NAME,
        abstract=child_text(body, f"{_ARXIV}abstract"),
        authors=_structured_authors(body),
        categories=split_categories(child_text(body, f"{_ARXIV}categories")),
        comments=comments,
        journal_ref=child_text(body, f"{_ARXIV}journal-ref"),
        doi=child_text(body, f"{_ARXIV}doi"),
        report_no=child_text(body, f"{_ARXIV}report-no"),
        license=child_text(body, f"{_ARXIV}license"),
        withdrawn=says_withdrawn(comments),
        versions=(PaperVersion(1, _midnight_utc(created, "created")),) if created else (),
        location=location,
    )


def _structured_authors(body: Element) -> tuple[Author, ...]:
    authors = []
    for element in body.iterfind(f"{_ARXIV}authors/{_ARXIV}author"):
        author = author_from_parts(
            child_text(element, f"{_ARXIV}keyname"),
            child_text(element, f"{_ARXIV}forenames"),
            child_text(element, f"{_ARXIV}suffix"),
        )
        if author.name:
            authors.append(author)
    return tuple(authors)


def record_from_oai_dc(body: Element, identifier: str = "", location: str = "") -> PaperRecord:
    """An `oai_dc` record: the first description is the abstract, the first date is v1's.

    Its subjects are category names ("Astrophysics - Astrophysics of Galaxies"), not codes: skipped.
    """
    descriptions = _dc_values(body, "description")
    abstract = next((d for d in descriptions if not d.startswith("Comment:")), "")
    comments = next((d[len("Comment:"):].strip() for d in descriptions if d.startswith("Comment:")), "")
    identifiers = _dc_values(body, "identifier")
    abs_url = next((i for i in identifiers if "arxiv.org/abs/" in i), "")
    doi = next((i[len("doi:"):] for i in identifiers if i.lower().startswith("doi:")), "")
    dates = _dc_values(body, "date")
    return PaperRecord(
        paper_id=_paper_id(abs_url, identifier),
        title=child_text(body, f"{_DC}title"),
        source=SOURCE_NAME,
        abstract=abstract,
        authors=tuple(_dc_creator(name) for name in _dc_values(body, "creator")),
        comments=comments,
        doi=doi,
        withdrawn=says_withdrawn(comments),
        versions=(PaperVersion(1, _midnight_utc(dates[0], "date")),) if dates and dates[0] else (),
        location=location,
    )


def _dc_values(body: Element, name: str) -> list[str]:
    return [text for text in ((e.text or "").strip() for e in body.findall(f"{_DC}{name}")) if text]


def _dc_creator(text: str) -> Author:
    last, comma, first = text.partition(",")
    return author_from_parts(last, first) if comma else author_from_name(text)


def _midnight_utc(text: str, field: str) -> datetime:
    day = parse_iso_date(text, field=field)
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


_BUILDERS: dict[str, Callable[[Element, str, str], PaperRecord]] = {
    f"{_RAW}arXivRaw": record_from_arxiv_raw,
    f"{_ARXIV}arXiv": record_from_arxiv,
    f"{_OAI_DC}dc": record_from_oai_dc,
}


class OaiFileSource:
    """Papers from a saved OAI-PMH response (raw XML, or a recorded `{"url", "status_code", "body"}`)."""

    name = SOURCE_NAME

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def items(self) -> Iterator[SourceItem]:
        return stream_xml_file(self.path, lambda stream, origin: OaiResponseReader(stream, origin).items())

    def page(self) -> OaiPage:
        """The whole response, with its resumption token."""
        return parse_file(self.path, lambda data, origin: parse_oai_response(data, origin=origin))
