"""Streaming JSON-lines files: one decoded value per line, malformed lines as located rejections."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any, BinaryIO

from papercast.domain.errors import InvalidInput, SourceError
from papercast.domain.ingest import Rejection, SourceItem, build_or_reject
from papercast.domain.papers import PaperRecord
from papercast.sources.file_reading import MAX_RECORD_BYTES, open_binary, reading, without_bom

# Far over any real record (the longest arXiv author lists are ~1 MB); longer lines are refused.
MAX_LINE_BYTES = MAX_RECORD_BYTES
# An overlong line is skipped up to this far; one that goes on further is no JSON-lines file
# (or an endless input such as /dev/zero), and reading stops with an error instead of running on.
MAX_SKIPPED_BYTES = 256 * 1024 * 1024
_SKIP_CHUNK = 1024 * 1024
# A first line with none of these is not a paper-metadata JSON-lines file.
_PAPER_KEYS = ("id", "title", "abstract")


def read_json_lines(path: Path, *, source: str, kind: str) -> Iterator[tuple[int, object] | Rejection]:
    """Yield `(line number, value)` per non-blank line, or a `Rejection` for a line that is not JSON.

    Reads in constant memory (a line over `MAX_LINE_BYTES` is rejected without being held whole).
    The first non-blank line must be a JSON object that looks like paper metadata; otherwise the
    file is some other format and `SourceError` says so (`kind` names the expected format, e.g.
    "an arXiv metadata snapshot (JSON lines)"). A UTF-8 byte order mark before it is skipped.
    """
    checked = False
    with reading(path), open_binary(path) as stream:
        for number, raw in _numbered_lines(stream, path):
            if not raw.strip():
                continue
            if not checked:
                check_first_line(raw, path=path, kind=kind)
            if len(raw) > MAX_LINE_BYTES:
                checked = True
                yield Rejection(f"line {number}", f"line is over {MAX_LINE_BYTES} bytes long", source)
                continue
            try:
                value = json.loads(raw)
            except (ValueError, RecursionError) as exc:  # also UnicodeDecodeError, absurd nesting
                yield Rejection(f"line {number}", f"malformed JSON: {exc}", source)
                checked = True
                continue
            if not checked:
                check_first_value(value, path=path, kind=kind)
                checked = True
            yield number, value


def _numbered_lines(stream: BinaryIO, path: Path) -> Iterator[tuple[int, bytes]]:
    """Lines with their numbers; an overlong line comes back as its first `MAX_LINE_BYTES + 1` bytes.

    The first line comes without a UTF-8 byte order mark.
    """
    number = 0
    readline = stream.readline
    while True:
        raw = readline(MAX_LINE_BYTES + 1)
        if not raw:
            return
        number += 1
        if number == 1:
            raw = without_bom(raw)
        if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
            _skip_rest_of_line(readline, path, number)
        yield number, raw


def _skip_rest_of_line(readline: Callable[[int], bytes], path: Path, number: int) -> None:
    skipped = 0
    while True:
        rest = readline(_SKIP_CHUNK)
        if not rest or rest.endswith(b"\n"):
            return
        skipped += len(rest)
        if skipped > MAX_SKIPPED_BYTES:
            raise SourceError(
                f"{path}: line {number} goes on for over {MAX_SKIPPED_BYTES} bytes without a line break "
                "(MAX_SKIPPED_BYTES); stopped reading: not JSON lines, or an endless input",
                code="line-too-long")


def check_first_line(raw: bytes, *, path: Path, kind: str) -> None:
    """Raise `SourceError` when the first non-blank line cannot start a JSON-lines file."""
    start = raw.lstrip()[:1]
    if start == b"{":
        return
    if start == b"<":
        found = "XML"
    elif start == b"[":
        found = "one JSON array (a Hugging Face daily-papers response?)"
    else:
        found = f"text starting {raw.strip()[:30]!r}"
    message = f"{path} is not {kind}: its first line is {found}, not a JSON object"
    raise SourceError(message, code="wrong-format")


def check_first_value(value: object, *, path: Path, kind: str) -> None:
    """Raise `SourceError` when the first decoded line is not paper metadata at all."""
    if isinstance(value, dict) and any(key in value for key in _PAPER_KEYS):
        return
    if isinstance(value, dict):
        keys = ", ".join(sorted(map(str, value))[:8])
        found = f"an object with keys {keys}"
        if {"url", "status_code", "body"} <= value.keys():
            found = "a recorded HTTP response (use --format arxiv-api or oai-pmh)"
    else:
        found = f"a JSON {_json_type(value)}"
    raise SourceError(
        f"{path} is not {kind}: its first line is {found}, with none of the fields id, title, abstract",
        code="wrong-format",
    )


def id_field(obj: dict[str, Any]) -> str:
    """The record's `id`, raising `InvalidInput` when it is missing or not a string."""
    paper_id = obj.get("id")
    if isinstance(paper_id, str) and paper_id.strip():
        return paper_id
    if paper_id is None or paper_id == "" or isinstance(paper_id, str):
        raise InvalidInput("missing id", field="id")
    raise InvalidInput(f"id is not a string: {paper_id!r:.40}", field="id")


def string_field(obj: dict[str, Any], key: str) -> str:
    """A text field; "" when absent or null, `InvalidInput` when it is some other JSON type."""
    value = obj.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidInput(f"expected a string, got a JSON {_json_type(value)}", field=key)
    return value


def categories_field(value: object) -> tuple[str, ...]:
    """Categories as arXiv writes them (one space-separated string, primary first) or as a list."""
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(value.split())
    if isinstance(value, list) and all(isinstance(c, str) for c in value):
        return tuple(c.strip() for c in value if c.strip())
    message = f"expected a space-separated string, got a JSON {_json_type(value)}"
    raise InvalidInput(message, field="categories")


def rejection_reason(obj: dict[str, Any], reason: str) -> str:
    """Why a JSON-lines record was rejected, naming its id when it has one."""
    paper_id = obj.get("id")
    return f"{paper_id[:80]}: {reason}" if isinstance(paper_id, str) and paper_id.strip() else reason


def _json_type(value: object) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", int: "number", float: "number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def records_from_json_lines(path: Path, *, source: str, kind: str,
                            build: Callable[[dict[str, Any], str, str], PaperRecord]) -> Iterator[SourceItem]:
    """Each line of `path` built into a record by `build(object, source, location)`, or a
    rejection naming the line: whatever building one line raises costs only that line."""
    for entry in read_json_lines(path, source=source, kind=kind):
        if isinstance(entry, Rejection):
            yield entry
            continue
        number, value = entry
        location = f"line {number}"
        if not isinstance(value, dict):
            yield Rejection(location, "expected a JSON object", source)
            continue
        item = build_or_reject(partial(build, value, source, location), location, source)
        if isinstance(item, Rejection):
            item = Rejection(location, rejection_reason(value, item.reason), source)
        yield item
