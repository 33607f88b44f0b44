"""Safe, incremental XML parsing for the feed formats: defusedxml only, records handed over one
at a time in bounded memory, failures as `SourceError`s that name the input."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO, TypeVar
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException  # type: ignore[import-untyped]
from defusedxml.ElementTree import iterparse  # type: ignore[import-untyped]

from papercast.domain.errors import SourceError
from papercast.sources.file_reading import (
    MAX_RECORD_BYTES,
    PrefixedStream,
    bounded_document,
    looks_recorded,
    naming_file,
    open_binary,
    parse_payload,
    reading,
    recorded_response,
)

T = TypeVar("T")
_HEAD_SIZE = 65_536


class RecordStream:
    """The record elements (`record_tag` at `record_depth`, the root being depth 1) of an XML
    document, each handed over as soon as it is complete and then dropped from the tree.

    DTDs and entity declarations are refused outright (no billion-laughs, no external entities).
    Memory stays bounded: no more than `MAX_RECORD_BYTES` are read without a record completing.
    After the iteration, `root` holds the document without its records (paging numbers, errors).
    """

    def __init__(self, stream: BinaryIO, *, origin: str, kind: str, root_tags: tuple[str, ...],
                 record_tag: str, record_depth: int) -> None:
        self._reader = _WindowedReader(stream, origin)
        self._origin = origin
        self._kind = kind
        self._root_tags = root_tags
        self._record_tag = record_tag
        self._record_depth = record_depth
        self._root: Element | None = None

    @property
    def root(self) -> Element:
        """The document without its records; read the records first."""
        if self._root is None:
            raise RuntimeError("the records of this document have not been read yet")
        return self._root

    def __iter__(self) -> Iterator[Element]:
        open_elements: list[Element] = []
        try:
            for event, element in iterparse(self._reader, events=("start", "end"), forbid_dtd=True):
                if event == "start":
                    if not open_elements:
                        require_root(element, self._root_tags, origin=self._origin, kind=self._kind)
                        self._root = element
                    open_elements.append(element)
                    continue
                open_elements.pop()
                if element.tag == self._record_tag and len(open_elements) == self._record_depth - 1:
                    self._reader.record_done()
                    yield element
                    open_elements[-1].remove(element)  # handled: keep memory flat
        except DefusedXmlException as exc:
            message = f"{self._origin} is not {self._kind}: refusing XML with a DTD or entity declarations"
            raise SourceError(f"{message} ({exc!r})", code="forbidden-xml") from exc
        except (ParseError, LookupError, ValueError) as exc:  # LookupError: an unknown declared encoding
            message = f"{self._origin} is not {self._kind}: {_describe_unparseable(self._reader.head, exc)}"
            raise SourceError(message, code="malformed-xml") from exc


class _WindowedReader:
    """Reads a stream for the parser, refusing to read `MAX_RECORD_BYTES` without a record ending
    (whitespace or an element without end would otherwise be held whole, however large)."""

    def __init__(self, stream: BinaryIO, origin: str) -> None:
        self._stream = stream
        self._origin = origin
        self._read = 0
        self._window_start = 0
        self.head = b""

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size if size >= 0 else MAX_RECORD_BYTES + 1)
        if not self.head:
            self.head = data[:64]
        self._read += len(data)
        if self._read - self._window_start > MAX_RECORD_BYTES:
            raise SourceError(
                f"{self._origin}: read over {MAX_RECORD_BYTES} bytes (MAX_RECORD_BYTES) after byte "
                f"{self._window_start} without a complete record; stopped reading", code="record-too-large")
        return data

    def record_done(self) -> None:
        self._window_start = self._read


def _describe_unparseable(head: bytes, exc: Exception) -> str:
    start = head.lstrip()[:1]
    if not start:
        return "the input is empty"
    if start in (b"{", b"["):
        return f"it looks like JSON, not XML ({exc})"
    return f"the XML does not parse ({exc})"


def stream_xml_file(path: Path, read: Callable[[BinaryIO, str], Iterator[T]]) -> Iterator[T]:
    """`read(stream, origin)`'s items from an XML file, or from the XML body of a recorded HTTP
    response `{"url", "status_code", "body"}` (read whole, up to `MAX_DOCUMENT_BYTES`).

    A raw file is read as it is parsed, so the items before a damaged part are handed over
    before the error. A recorded response is parsed completely before anything is handed over,
    so that a recorded HTTP failure is an error even when its body parses.
    """
    with reading(path), open_binary(path) as stream:
        head = stream.read(_HEAD_SIZE)
        whole: BinaryIO = PrefixedStream(head, stream)  # type: ignore[assignment]  # readable bytes
        if looks_recorded(head):
            document = bounded_document(whole, path)
            payload = recorded_response(document)
            if payload is not None:
                def read_whole(body: bytes, origin: str) -> list[T]:
                    return list(read(io.BytesIO(body), origin))

                yield from parse_payload(payload, path, read_whole)
                return
            whole = io.BytesIO(document)  # JSON but no recorded response: the parser says so
        try:
            yield from read(whole, str(path))
        except SourceError as exc:
            named = naming_file(exc, path)
            if named is exc:
                raise
            raise named from exc


def require_root(root: Element, tags: tuple[str, ...], *, origin: str, kind: str) -> None:
    """Raise `SourceError` unless the root element is one of `tags` (Clark notation `{ns}name`)."""
    if root.tag not in tags:
        message = f"{origin} is not {kind} (root element is <{local_name(root.tag)}>)"
        raise SourceError(message, code="wrong-format")


def local_name(tag: str) -> str:
    """`{http://www.w3.org/2005/Atom}feed` -> `feed`."""
    return tag.rpartition("}")[2]


def child_text(element: Element, tag: str) -> str:
    """The text of the first child `tag` (Clark notation), or "" when absent or empty."""
    return element.findtext(tag) or ""


def all_text(element: Element | None) -> str:
    """All text inside `element`, children included, whitespace-collapsed."""
    if element is None:
        return ""
    return " ".join("".join(element.itertext()).split())


def int_or_none(text: str | None) -> int | None:
    """A count from element text or an attribute (ASCII digits, at most 18 of them), else None."""
    value = (text or "").strip()
    return int(value) if value.isascii() and value.isdigit() and len(value) <= 18 else None
