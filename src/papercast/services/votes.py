"""Votes and saves: a reader upvotes or saves a paper (or takes it back), within the rate
limits, and the paper's points and trending score follow in the same transaction; the reader's
library lists what they saved, newest first.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from papercast.clock import Clock
from papercast.domain.accounts import UserState
from papercast.domain.errors import InvalidInput, NotAllowed, NotFound, TooManyRequests
from papercast.domain.papers import Paper, parse_paper_id
from papercast.domain.trending import Mark, Standing
from papercast.domain.votes import Counter, VoteLimits, address_group, seconds_until_allowed
from papercast.ports import PaperBatchReader, UnitOfWork, VoteReads, VoteWrites
from papercast.services.listings import check_window

log = logging.getLogger("papercast.votes")

# An export is the whole library in one file; past this many papers it is cut (and says so).
MAX_EXPORT = 10_000


@dataclass(frozen=True)
class LibraryEntry:
    paper: Paper
    saved_at: datetime


@dataclass(frozen=True)
class LibraryPage:
    entries: tuple[LibraryEntry, ...]
    total: int
    offset: int
    limit: int

    @property
    def has_next(self) -> bool:
        return self.offset + self.limit < self.total


class VoteService:
    """Upvotes and saves of signed-in readers. `hash_address` turns a client address into what is
    stored for the per-address limits (a keyed hash: the address itself is not kept)."""

    def __init__(self, units: UnitOfWork, reads: VoteReads, papers: PaperBatchReader, clock: Clock,
                 limits: VoteLimits, hash_address: Callable[[str], str]) -> None:
        self._units = units
        self._reads = reads
        self._papers = papers
        self._clock = clock
        self._limits = limits
        self._hash_address = hash_address

    def mark(self, user_id: int, raw_paper_id: str, mark: Mark, on: bool, address: str) -> Standing:
        """Upvote or save (`on`), or take it back, for the reader `user_id`; the paper's standing
        after it. Repeating a request changes nothing. `NotFound` for an unknown paper,
        `NotAllowed` for an account not in good standing, `TooManyRequests` past a limit (and
        then nothing is changed)."""
        paper_id = _paper_id(raw_paper_id)
        address_hash = self._hash_address(address_group(address))
        with self._units.begin() as transaction:
            records, now = transaction.votes, self._clock.now()
            state = records.lock_voter(user_id)
            if state is not UserState.ACTIVE:
                raise NotAllowed("only active accounts can vote or save papers")
            if records.standing(paper_id) is None:
                raise NotFound(f"no paper {paper_id!r} in the catalog")
            self._check_limits(records, user_id, address_hash, now)
            if records.set_mark(mark, user_id, paper_id, on, now):
                records.record_action(user_id, address_hash, now)
                log.info("votes.mark user=%d paper=%s mark=%s on=%s", user_id, paper_id, mark.value, on)
            standing = records.standing(paper_id)
            marks = records.marks_of(user_id, [paper_id]).get(paper_id, set())
        assert standing is not None
        return replace(standing, upvoted=Mark.UPVOTE in marks, saved=Mark.SAVE in marks)

    def _check_limits(self, records: VoteWrites, user_id: int, address_hash: str, now: datetime) -> None:
        for rule in self._limits.rules():
            since = now - rule.period
            if rule.counter is Counter.ACCOUNT:
                nth = records.nth_newest_action(rule.count, since, user_id=user_id)
            else:
                nth = records.nth_newest_action(rule.count, since, address_hash=address_hash)
            wait = seconds_until_allowed(rule, nth, now)
            if wait is not None:
                log.warning("votes.limited user=%d rule=%r retry_after=%d", user_id, rule.words, wait)
                raise TooManyRequests(f"at most {rule.words}; try again in {wait} s", retry_after=wait)

    def marks(self, user_id: int, paper_ids: Sequence[str]) -> dict[str, set[Mark]]:
        """Which of `paper_ids` the reader has upvoted and saved (for a page's buttons)."""
        if not paper_ids:
            return {}
        with self._reads.reading() as records:
            return records.marks_of(user_id, paper_ids)

    def library(self, user_id: int, offset: int = 0, limit: int = 20) -> LibraryPage:
        """The reader's saved papers, the newest save first."""
        check_window(offset, limit)
        return self._library(user_id, offset, limit)

    def export(self, user_id: int) -> LibraryPage:
        """The whole library (up to `MAX_EXPORT` papers), for BibTeX and JSON files."""
        return self._library(user_id, 0, MAX_EXPORT)

    def _library(self, user_id: int, offset: int, limit: int) -> LibraryPage:
        saved, total = self._reads.library(user_id, offset, limit)
        loaded = self._papers.get_many([paper_id for paper_id, _ in saved])
        entries = tuple(LibraryEntry(loaded[paper_id], when) for paper_id, when in saved
                        if paper_id in loaded)
        return LibraryPage(entries, total, offset, limit)


def _paper_id(raw: str) -> str:
    """The canonical id; a string that cannot be an id names no paper."""
    try:
        return parse_paper_id(raw).paper_id
    except InvalidInput as error:
        raise NotFound(str(error)) from error
