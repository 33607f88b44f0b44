"""Hugging Face daily papers (`GET /api/daily_papers`): arXiv papers with upvotes, comments and stars."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from papercast.domain.errors import InvalidInput, SourceError
from papercast.domain.ingest import Rejection, SourceItem, build_or_reject
from papercast.domain.papers import MAX_COUNT, Author, ExternalSignal, PaperRecord, author_from_name
from papercast.sources.arxiv_fields import parse_iso_date
from papercast.sources.file_reading import parse_file

SOURCE_NAME = "hf-daily"
KIND = "a Hugging Face daily-papers response"


def parse_hf_daily(data: bytes, *, origin: str = "input") -> list[SourceItem]:
    """The papers of one response (a JSON array of `{paper: {...}, numComments, ...}`)."""
    try:
        entries = json.loads(data, parse_int=_json_integer)
    except (ValueError, RecursionError) as exc:
        hint = " (it looks like XML)" if data.lstrip()[:1] == b"<" else ""
        message = f"{origin} is not {KIND}: not a JSON document{hint} ({exc})"
        raise SourceError(message, code="wrong-format") from exc
    if isinstance(entries, dict) and "error" in entries:
        raise SourceError(f"Hugging Face API error: {entries['error']}", code="hf-api-error")
    if not isinstance(entries, list):
        found = "a JSON object" if isinstance(entries, dict) else f"JSON {type(entries).__name__}"
        message = f"{origin} is not {KIND}: expected a JSON array, found {found}"
        raise SourceError(message, code="wrong-format")
    return [_item(entry, index) for index, entry in enumerate(entries, start=1)]


class OversizedNumber:
    """A JSON integer too long to be any count. Only its entry is rejected: converting it would
    fail the whole document (Python refuses integers of over 4,300 digits)."""

    def __init__(self, digits: str) -> None:
        self.digits = len(digits)

    def __repr__(self) -> str:
        return f"a number of {self.digits} digits"


def _json_integer(digits: str) -> int | OversizedNumber:
    return int(digits) if len(digits) <= 30 else OversizedNumber(digits)


def _item(entry: object, index: int) -> SourceItem:
    paper = entry.get("paper") if isinstance(entry, dict) else None
    paper_id = paper.get("id") if isinstance(paper, dict) else None
    location = f"item {index}"
    if isinstance(paper_id, str) and paper_id:
        location = f"item {index} ({paper_id[:100]})"
    if not isinstance(entry, dict) or not isinstance(paper, dict):
        return Rejection(location, "expected an object with a `paper` object", SOURCE_NAME)
    return build_or_reject(lambda: record_from_daily_entry(entry, location), location, SOURCE_NAME)


def record_from_daily_entry(entry: dict[str, Any], location: str = "") -> PaperRecord:
    """One daily-papers entry. `paper.publishedAt` is arXiv's v1 date; no version is named."""
    paper = entry["paper"]
    paper_id = paper.get("id")
    if not isinstance(paper_id, str) or not paper_id.strip():
        raise InvalidInput("missing paper.id", field="id")
    published = _text(paper, "publishedAt") or _text(entry, "publishedAt")
    return PaperRecord(
        paper_id=paper_id.strip(),
        title=_text(paper, "title") or _text(entry, "title"),
        source=SOURCE_NAME,
        abstract=_text(paper, "summary") or _text(entry, "summary"),
        authors=_authors(paper.get("authors")),
        announced_on=parse_iso_date(published, field="publishedAt") if published else None,
        signal=_signal(entry, paper),
        location=location,
    )


def _signal(entry: dict[str, Any], paper: dict[str, Any]) -> ExternalSignal:
    observed = _text(paper, "submittedOnDailyAt")
    return ExternalSignal(
        source=SOURCE_NAME,
        upvotes=_count(paper, "upvotes") or 0,
        comments=_count(entry, "numComments") or 0,
        github_stars=_count(paper, "githubStars"),
        observed_on=parse_iso_date(observed, field="submittedOnDailyAt") if observed else None,
    )


def _authors(value: object) -> tuple[Author, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise InvalidInput("expected a list of {name}", field="authors")
    names = (a.get("name") if isinstance(a, dict) else None for a in value)
    return tuple(author_from_name(name) for name in names if isinstance(name, str) and name.strip())


def _text(obj: dict[str, Any], key: str) -> str:
    value = obj.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidInput(f"expected a string, got {type(value).__name__}", field=key)
    return value


def _count(obj: dict[str, Any], key: str) -> int | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_COUNT:
        raise InvalidInput(f"expected a count (0 to {MAX_COUNT}), got {value!r:.40}", field=key)
    return value


class HfDailyFileSource:
    """Papers from a saved daily-papers response (raw JSON, or a recorded HTTP response)."""

    name = SOURCE_NAME

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def items(self) -> Iterator[SourceItem]:
        yield from parse_file(self.path, lambda data, origin: parse_hf_daily(data, origin=origin))
