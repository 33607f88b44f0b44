"""Field conventions shared by arXiv's formats: version labels, dates, categories, withdrawal notes."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from email.utils import parsedate_to_datetime

from papercast.domain.errors import InvalidInput

_MONTHS = {
    name: number
    for number, name in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), start=1
    )
}
# "This paper has been withdrawn", "paper withdrawn by author", "withdrawn by arXiv administrators",
# "This reprint has been withdrawn ...", "v2: This submission has been withdrawn ...".
_WITHDRAWN = re.compile(
    r"^\s*(?:v\d+\s*[:;,.-]?\s*)?(?:(?:this|the)\s+)?(?:[a-z]+\s+)?(?:(?:has|have)\s+been\s+|is\s+)?withdrawn\b"
)


def version_number(label: str) -> int:
    """The number of an arXiv version label: `v3` -> 3."""
    text = (label or "").strip()
    digits = text[1:] if text[:1] in ("v", "V") else text
    if not digits.isdecimal():
        raise InvalidInput(f"invalid version label {label!r}", field="versions")
    return int(digits)


def parse_arxiv_datetime(text: str) -> datetime:
    """An RFC 2822 date as arXiv writes them (`Tue, 1 Nov 1994 18:57:48 GMT`), timezone-aware UTC."""
    try:  # the fixed layout arXiv always uses, about three times faster than the general parser
        _, day, month, year, clock, zone = text.split()
        if zone == "GMT":
            hour, minute, second = clock.split(":")
            return datetime(
                int(year), _MONTHS[month], int(day), int(hour), int(minute), int(second), tzinfo=UTC
            )
    except (KeyError, ValueError):
        pass  # some other layout, or out of range: the general parser decides
    try:
        parsed = parsedate_to_datetime(text)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"invalid date {text!r}", field="versions") from exc
    return _as_utc(parsed)


def parse_iso_datetime(text: str, *, field: str) -> datetime:
    """An ISO 8601 date or timestamp (`2012-04-02T12:38:54Z`, `2015-07-10`), timezone-aware UTC."""
    value = (text or "").strip()
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise InvalidInput(f"invalid date {value!r}", field=field) from exc
    return _as_utc(parsed)


def parse_iso_date(text: str, *, field: str) -> date:
    """The calendar date of an ISO 8601 date or timestamp, as written (no timezone shift)."""
    value = (text or "").strip()
    try:
        return date.fromisoformat(value[:10])
    except ValueError as exc:
        raise InvalidInput(f"invalid date {value!r}", field=field) from exc


def _as_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def split_categories(text: str) -> tuple[str, ...]:
    """arXiv's space-separated category list, primary first: `hep-ph hep-ex` -> ('hep-ph', 'hep-ex')."""
    return tuple(dict.fromkeys((text or "").split()))


def says_withdrawn(comments: str) -> bool:
    """Whether a version's comments announce a withdrawal (arXiv's convention for withdrawn papers)."""
    if not comments:
        return False
    head = comments[:200].lower()
    return "withdrawn" in head and _WITHDRAWN.match(head) is not None
