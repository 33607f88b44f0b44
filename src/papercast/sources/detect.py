"""Telling an input file's format from its content, and building the source that reads it."""

from __future__ import annotations

import json
import re
from pathlib import Path

from papercast.domain.errors import InvalidInput
from papercast.ports import PaperSource
from papercast.sources.arxiv_api import ArxivApiFileSource
from papercast.sources.arxiv_oai import OaiFileSource
from papercast.sources.arxiv_rss import ArxivRssFileSource
from papercast.sources.file_reading import (
    MAX_RECORD_BYTES,
    open_binary,
    read_document,
    read_head,
    reading,
    recorded_response,
    without_bom,
)
from papercast.sources.hf_daily import HfDailyFileSource
from papercast.sources.minimal_jsonl import MinimalJsonlSource
from papercast.sources.snapshot_jsonl import SnapshotJsonlSource

FORMATS = ("snapshot", "jsonl", "arxiv-api", "oai-pmh", "rss", "hf-daily")
_ROOT_FORMATS = {"feed": "arxiv-api", "OAI-PMH": "oai-pmh", "rss": "rss"}
# Keys only the arXiv snapshot has; a line with just id/title/abstract is minimal JSON lines.
_SNAPSHOT_KEYS = frozenset(
    {"versions", "authors_parsed", "submitter", "update_date", "journal-ref", "report-no"}
)
_WRAPPER_KEYS = frozenset({"url", "status_code", "body"})
_HEAD_SIZE = 65_536
# The first start tag, after any XML declaration, comments and processing instructions.
_ROOT_TAG = re.compile(rb"<(?![?!])(?:[A-Za-z_][\w.-]*:)?([A-Za-z_][\w.-]*)")


def detect_format(path: Path) -> str:
    """The format of `path` (one of `FORMATS`), from its first bytes; gzip files are looked inside.

    Reads a bounded prefix: at most the first line (up to `MAX_RECORD_BYTES`) of a JSON-lines
    file, or the whole of a recorded response (up to `MAX_DOCUMENT_BYTES`).
    """
    path = Path(path)
    head = without_bom(read_head(path, _HEAD_SIZE)).lstrip(b" \t\r\n")
    fmt = None
    if head.startswith(b"<"):
        fmt = _ROOT_FORMATS.get(_root_tag(head))
    elif head.startswith(b"["):
        fmt = "hf-daily" if b'"paper"' in head or head.rstrip() == b"[]" else None
    elif head.startswith(b"{"):
        fmt = _json_format(path, head)
    if fmt is None:
        raise InvalidInput(
            f"{path}: cannot tell the format (expected one of {', '.join(FORMATS)}); pass --format",
            field="format",
        )
    return fmt


def _root_tag(head: bytes) -> str:
    match = _ROOT_TAG.search(head)
    return match[1].decode("ascii", "replace") if match else ""


def _json_format(path: Path, head: bytes) -> str | None:
    first_line: bytes | None = head.split(b"\n", 1)[0]
    if b"\n" not in head and len(head) >= _HEAD_SIZE - 3:
        first_line = _first_line(path)
    if first_line is None:
        return None
    try:
        value = json.loads(first_line)
    except (ValueError, RecursionError):
        # One long line (a recorded response is a single JSON object) or a malformed first line.
        return _recorded_format(read_document(path)) if b'"status_code"' in head else None
    if not isinstance(value, dict):
        return None
    if value.keys() >= _WRAPPER_KEYS:
        return _recorded_format(first_line)
    if "id" not in value:
        return None
    return "snapshot" if _SNAPSHOT_KEYS & value.keys() else "jsonl"


def _first_line(path: Path) -> bytes | None:
    """The whole first non-blank line, for a JSON-lines file whose first record is over 64 KiB;
    None when it is over `MAX_RECORD_BYTES` (reading on would hold all of it in memory)."""
    with reading(path), open_binary(path) as stream:
        while line := stream.readline(MAX_RECORD_BYTES + 1):
            if len(line) > MAX_RECORD_BYTES:
                return None
            if line.strip():
                return without_bom(line)
    return b""


def _recorded_format(data: bytes) -> str | None:
    """A recorded HTTP response `{"url", "status_code", "body"}`: the format of its body."""
    recorded = recorded_response(data)
    if recorded is None:
        return None
    body = recorded.data.lstrip()
    if body.startswith(b"<"):
        return _ROOT_FORMATS.get(_root_tag(body[:4096]))
    return "hf-daily" if body.startswith(b"[") else None


def open_source(path: Path, fmt: str | None = None) -> PaperSource:
    """The source that reads `path` as `fmt` (detected when None).

    A file that turns out not to be `fmt` makes the source raise `SourceError` when iterated.
    """
    path = Path(path)
    chosen = fmt or detect_format(path)
    if chosen == "snapshot":
        return SnapshotJsonlSource(path)
    if chosen == "jsonl":
        return MinimalJsonlSource(path)
    if chosen == "arxiv-api":
        return ArxivApiFileSource(path)
    if chosen == "oai-pmh":
        return OaiFileSource(path)
    if chosen == "rss":
        return ArxivRssFileSource(path)
    if chosen == "hf-daily":
        return HfDailyFileSource(path)
    raise InvalidInput(f"unknown format {fmt!r} (expected one of {', '.join(FORMATS)})", field="format")
