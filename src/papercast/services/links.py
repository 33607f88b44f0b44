"""Single-use links: a signed token naming a stored link and carrying its nonce.

The signature (purpose-scoped, expiring) refuses a forged, altered, expired or misdirected token
without touching the database; the stored row makes the link single-use: it is marked used in
the transaction that acts on it. Sign-in uses this; confirmation links can use it as they are.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import timedelta

from papercast.clock import Clock
from papercast.domain.accounts import LinkRecord
from papercast.domain.tokens import (
    ExpiredToken,
    InvalidToken,
    TokenSigner,
    UsedToken,
    new_secret,
    secret_hash,
)
from papercast.ports import AccountRecords


@dataclass(frozen=True)
class LinkLimits:
    """How many links of one purpose a subject (an address) may be sent, and a requester (an IP's
    keyed hash) may cause, within their windows; 0 is no limit."""

    per_subject: int
    subject_window: timedelta
    per_requester: int
    requester_window: timedelta


class SingleUseLinks:
    """Issues and redeems single-use link tokens with `signer`."""

    def __init__(self, signer: TokenSigner, clock: Clock) -> None:
        self._signer = signer
        self._clock = clock

    def issue(self, records: AccountRecords, purpose: str, subject: str, max_age: timedelta,
              requester_hash: str | None = None) -> str:
        """Store a link for `subject` and return its token (valid for `max_age`, once)."""
        now = self._clock.now()
        nonce = new_secret(16)
        link_id = records.add_link(purpose, subject, secret_hash(nonce), requester_hash, now, now + max_age)
        return self._signer.sign(purpose, {"link": link_id, "nonce": nonce}, now)

    def refusal(self, records: AccountRecords, purpose: str, subject: str, requester_hash: str,
                limits: LinkLimits) -> str | None:
        """Why no link for `purpose` may go to `subject` at `requester_hash`'s request now, or None.

        Counting stored links makes the limits hold across processes; the locks (the subject's,
        then the requester's, held until the caller's transaction ends) make them hold for
        requests racing each other.
        """
        records.lock(f"{purpose}:{subject}")
        records.lock(f"{purpose}-requester:{requester_hash}")
        now = self._clock.now()
        by_subject = records.count_links(purpose, now - limits.subject_window, subject=subject)
        if limits.per_subject and by_subject >= limits.per_subject:
            return "address-rate-limit"
        by_requester = records.count_links(purpose, now - limits.requester_window,
                                           requester_hash=requester_hash)
        if limits.per_requester and by_requester >= limits.per_requester:
            return "requester-rate-limit"
        return None

    def check(self, records: AccountRecords, purpose: str, token: str, max_age: timedelta) -> LinkRecord:
        """The link `token` names, if it may still be used: `InvalidToken`, `ExpiredToken` or
        `UsedToken` otherwise. Changes nothing (a landing page may show it again and again)."""
        now = self._clock.now()
        payload = self._signer.verify(purpose, token, now, max_age).payload
        link_id, nonce = payload.get("link"), payload.get("nonce")
        if not isinstance(link_id, int) or not isinstance(nonce, str):
            raise InvalidToken("the link does not name a stored link")
        found = records.link(link_id)
        if found is None or found[0].purpose != purpose or \
                not hmac.compare_digest(found[1], secret_hash(nonce)):
            raise InvalidToken("the link is not known here (made before a reset, or pruned)")
        record = found[0]
        if record.used_at is not None:
            raise UsedToken("the link was used already")
        if record.expires_at <= now:
            raise ExpiredToken("the link has expired")
        return record

    def redeem(self, records: AccountRecords, purpose: str, token: str, max_age: timedelta) -> LinkRecord:
        """`check`, then mark the link used in the caller's transaction: of two requests racing
        with one link, one succeeds and the other gets `UsedToken`."""
        record = self.check(records, purpose, token, max_age)
        if not records.use_link(record.id, self._clock.now()):
            raise UsedToken("the link was used already")
        return record
