"""The digest as data and rules: which period a subscriber's digest belongs to and when it is due
(their send hour on their local date, or on Monday of their ISO week), its sections with each
paper once, trimmed text, and what a delivery's outcome means for the address.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from urllib.parse import quote
from zoneinfo import ZoneInfo

from papercast.domain.latex_text import latex_to_text
from papercast.domain.papers import Paper
from papercast.domain.subscriptions import Frequency, Preferences

DIGEST_KEY_PREFIX = "digest"  # outbox idempotency keys: digest:<subscriber id>:<period key>
ELLIPSIS = "…"
_WORD_END = re.compile(r"\s+\S*$")


class DeliveryState(StrEnum):
    """A digest's life, per subscriber and period (`digest_deliveries.state`). `queued` is handed
    to the mail outbox; the outbox's own outcome is copied back when it is final."""

    QUEUED = "queued"
    SKIPPED_EMPTY = "skipped_empty"  # nothing new: nothing sent (PAPERCAST_DIGEST_SKIP_EMPTY)
    SENT = "sent"
    FAILED = "failed"  # refused for good (5xx), or retries ran out
    EXPIRED = "expired"  # still not delivered when the period ended (4xx, relay down)
    CANCELLED = "cancelled"  # unsubscribed or suppressed before it went, or the address removed

    @property
    def final(self) -> bool:
        return self is not DeliveryState.QUEUED


@dataclass(frozen=True)
class DigestPeriod:
    """One subscriber's digest period: `key` (`2026-12-03`, or `2026-W49` for weekly), when the
    digest is due (`send_at`) and when the period ends (`ends_at`: not worth sending after)."""

    key: str
    send_at: datetime
    ends_at: datetime
    local_start: date  # the period's first local date


def local_instant(day: date, hour: int, zone: ZoneInfo) -> datetime:
    """`hour` o'clock on local `day` as a UTC instant. An hour skipped by a daylight-saving change
    is read with the offset before the change (fold=0: 02:30 that does not exist is 03:30 summer
    time); an hour that happens twice is its first occurrence."""
    return datetime.combine(day, time(hour), tzinfo=zone).replace(fold=0).astimezone(UTC)


def period_at(preferences: Preferences, at: datetime) -> DigestPeriod:
    """The period `at` falls in, in the subscriber's zone: their local date (daily) or ISO week
    (weekly, starting Monday)."""
    zone = ZoneInfo(preferences.time_zone)
    today = at.astimezone(zone).date()
    if preferences.frequency is Frequency.WEEKLY:
        start = today - timedelta(days=today.weekday())
        year, week, _ = start.isocalendar()
        key, following = f"{year}-W{week:02d}", start + timedelta(days=7)
    else:
        start, key, following = today, today.isoformat(), today + timedelta(days=1)
    return DigestPeriod(key, local_instant(start, preferences.send_hour, zone),
                        datetime.combine(following, time(0), tzinfo=zone).astimezone(UTC), start)


def due_period(preferences: Preferences, at: datetime) -> DigestPeriod | None:
    """The period whose digest is due at `at`: the send hour of the current local date (or of
    this week's Monday) has come. None before it. Only the current period: a digest not planned
    before its period ended is never sent late."""
    period = period_at(preferences, at)
    return period if period.send_at <= at < period.ends_at else None


def digest_key(subscriber_id: int, period_key: str) -> str:
    return f"{DIGEST_KEY_PREFIX}:{subscriber_id}:{period_key}"


def announced_dates(preferences: Preferences, send_at: datetime) -> tuple[date, date]:
    """The announcement dates (UTC, inclusive) a digest covers: the day (or week) of
    announcements before sending. arXiv announces at 00:00 UTC, so consecutive daily digests
    cover one announcement each, whatever the subscriber's zone, and never the same one twice."""
    days = 7 if preferences.frequency is Frequency.WEEKLY else 1
    last = send_at.astimezone(UTC).date()
    return last - timedelta(days=days - 1), last


def trending_since(preferences: Preferences, send_at: datetime) -> datetime:
    """The first instant of the trending window: the first announcement the digest covers."""
    first, _ = announced_dates(preferences, send_at)
    return datetime.combine(first, time(0), tzinfo=UTC)


@dataclass(frozen=True)
class DigestPaper:
    """A paper as a digest shows it: plain text (LaTeX resolved), and where to read it."""

    paper_id: str
    title: str
    authors: str
    abstract: str
    path: str  # the paper's page on this papercast
    arxiv_abs: str | None
    arxiv_pdf: str | None

    def as_context(self) -> dict[str, str | None]:
        return {"id": self.paper_id, "title": self.title, "authors": self.authors, "abstract": self.abstract,
                "path": self.path, "arxiv_abs": self.arxiv_abs, "arxiv_pdf": self.arxiv_pdf}


@dataclass(frozen=True)
class DigestSection:
    kind: str  # trending, topic, picks
    title: str
    papers: tuple[DigestPaper, ...]


@dataclass(frozen=True)
class Digest:
    """What one subscriber gets for one period. Personal picks have their place even while
    empty (recommendations arrive later): a section with no paper is not shown."""

    period: DigestPeriod
    sections: tuple[DigestSection, ...]

    @property
    def paper_count(self) -> int:
        return sum(len(section.papers) for section in self.sections)

    @property
    def is_empty(self) -> bool:
        return self.paper_count == 0


def assemble_sections(candidates: Iterable[tuple[str, str, Sequence[DigestPaper]]],
                      per_section: int) -> tuple[DigestSection, ...]:
    """Sections in the order given (trending, each topic, picks), each paper only in the first
    section that has it, at most `per_section` papers each; empty sections dropped."""
    seen: set[str] = set()
    sections: list[DigestSection] = []
    for kind, title, papers in candidates:
        kept: list[DigestPaper] = []
        for paper in papers:
            if len(kept) >= per_section:
                break
            if paper.paper_id not in seen:
                seen.add(paper.paper_id)
                kept.append(paper)
        if kept:
            sections.append(DigestSection(kind, title, tuple(kept)))
    return tuple(sections)


def trim(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters at a word boundary, with an ellipsis."""
    if len(text) <= limit:
        return text
    cut = _WORD_END.sub("", text[:limit - 1]).rstrip(" ,;:.") or text[:limit - 1]
    return cut + ELLIPSIS


def paper_path(paper_id: str) -> str:
    """The paper's page: `/papers/2401.01234` (old-style ids keep their slash)."""
    return "/papers/" + quote(paper_id, safe="/")


def digest_paper(paper: Paper, abstract_chars: int) -> DigestPaper:
    """`paper` as plain text: title and abstract with LaTeX resolved, the abstract trimmed."""
    names = [author.name for author in paper.authors]
    authors = ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")
    arxiv = paper.is_arxiv
    return DigestPaper(
        paper_id=paper.paper_id, title=latex_to_text(paper.title), authors=latex_to_text(authors),
        abstract=trim(latex_to_text(paper.abstract), abstract_chars), path=paper_path(paper.paper_id),
        arxiv_abs=f"https://arxiv.org/abs/{paper.paper_id}" if arxiv else None,
        arxiv_pdf=f"https://arxiv.org/pdf/{paper.paper_id}" if arxiv else None)


@dataclass(frozen=True)
class PlannedDelivery:
    """A digest as planned: queued in the outbox (its row id), or skipped."""

    subscriber_id: int
    period: str
    state: DeliveryState
    outbox_id: int | None
    papers: int
    send_at: datetime


@dataclass(frozen=True)
class SettledDelivery:
    """A queued digest whose outbox message reached a final state (or was removed: cancelled)."""

    subscriber_id: int
    period: str
    state: DeliveryState
    smtp_code: int | None


def refused_in_a_row(outcomes: Sequence[tuple[DeliveryState, int | None]]) -> int:
    """How many of the latest settled deliveries (newest first: state, SMTP code) were refused
    for good (failed with a 5xx) before a delivered one; expired or 4xx-exhausted ones neither
    count nor reset (the mailbox may only be full), a delivery resets."""
    count = 0
    for state, code in outcomes:
        if state is DeliveryState.SENT:
            break
        if state is DeliveryState.FAILED and code is not None and 500 <= code < 600:
            count += 1
    return count
