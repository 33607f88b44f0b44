"""Sending the mail outbox: claim a due message with a lease, deliver it, settle it at once.

`OutboxSender.send_due` is what the worker runs; one mailer session (one SMTP connection)
serves the whole run. Reply classes and backoff are `domain.mail`'s rules.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from papercast.clock import Clock
from papercast.domain.mail import (
    Claim,
    DeliveryFailed,
    FailureKind,
    MailRetryPolicy,
    OutboxEntry,
    OutboxState,
    Settlement,
    settle_delivered,
    settle_failure,
)
from papercast.ports import Mailer, MailSession, OutboxStore

log = logging.getLogger("papercast.mail")


@dataclass
class SendReport:
    """What one run did. `stopped` says why it ended before the outbox was empty, if it did."""

    sent: int = 0
    retrying: int = 0
    failed: int = 0
    expired: int = 0
    possible_duplicates: int = 0
    stopped: str | None = None

    @property
    def handled(self) -> int:
        return self.sent + self.retrying + self.failed

    def as_dict(self) -> dict[str, object]:
        return {"sent": self.sent, "retrying": self.retrying, "failed": self.failed,
                "expired": self.expired, "possible_duplicates": self.possible_duplicates,
                "stopped": self.stopped}


class OutboxSender:
    """Sends what is due in the outbox through `mailer`, as `owner` (unique per process)."""

    def __init__(self, outbox: OutboxStore, mailer: Mailer, clock: Clock, policy: MailRetryPolicy, *,
                 owner: str, lease: timedelta, jitter: Callable[[], float] = random.random) -> None:
        self._outbox = outbox
        self._mailer = mailer
        self._clock = clock
        self._policy = policy
        self._owner = owner
        self._lease = lease
        self._jitter = jitter

    def send_due(self, max_messages: int, should_stop: Callable[[], bool] | None = None) -> SendReport:
        """Send up to `max_messages` due messages, one claim at a time, so each lease covers one
        send; `should_stop` (the worker stopping) is asked before each claim. Each attempt's
        outcome is settled in the transaction that claims the next message.

        The run stops early when the server cannot be reached or says it is closing (421): the
        message in hand goes back to the queue (an unreachable server costs it no attempt) and
        the rest wait for the next run instead of each failing the same way.
        """
        report = SendReport()
        session: MailSession | None = None
        try:
            entry = None if _asked_to_stop(should_stop) else self._claim_one(report)
            while entry is not None:
                session = session or self._mailer.session()
                settlement = self._attempt(session, entry, report)
                self._count(entry, settlement, report)
                go_on = report.handled < max_messages and report.stopped is None \
                    and not _asked_to_stop(should_stop)
                entry = self._settle(entry, settlement, report, claim_next=go_on)
        finally:
            if session is not None:
                session.close()
        if report.handled or report.expired or report.stopped:
            log.info("mail.run sent=%d retrying=%d failed=%d expired=%d possible_duplicates=%d stopped=%s",
                     report.sent, report.retrying, report.failed, report.expired,
                     report.possible_duplicates, report.stopped)
        return report

    def _claim_one(self, report: SendReport) -> OutboxEntry | None:
        now = self._clock.now()
        claim = self._outbox.claim_due(self._owner, now, now + self._lease,
                                       max_attempts=self._policy.max_attempts)
        return _taken(claim, report)

    def _attempt(self, session: MailSession, entry: OutboxEntry, report: SendReport) -> Settlement:
        envelope = entry.envelope
        try:
            receipt = session.deliver(envelope)
        except DeliveryFailed as failure:
            if failure.kind is FailureKind.UNKNOWN_OUTCOME:
                report.possible_duplicates += 1
                log.warning("mail.possible_duplicate id=%s message_id=%s: %s", entry.id, envelope.message_id,
                            failure.detail)
            if failure.stops_run:
                report.stopped = failure.detail
                log.warning("mail.paused id=%s: %s", entry.id, failure.detail)
            return settle_failure(entry, failure, self._clock.now(), self._policy, self._jitter())
        return settle_delivered(receipt)

    def _settle(self, entry: OutboxEntry, settlement: Settlement, report: SendReport, *,
                claim_next: bool) -> OutboxEntry | None:
        """Record the attempt; with `claim_next`, lease the next due message in the same transaction."""
        now = self._clock.now()
        if not claim_next:
            self._outbox.settle(entry.id, self._owner, now, settlement)
            return None
        _, claim = self._outbox.settle_and_claim(entry.id, self._owner, now, settlement, now + self._lease,
                                                 max_attempts=self._policy.max_attempts)
        return _taken(claim, report)

    @staticmethod
    def _count(entry: OutboxEntry, settlement: Settlement, report: SendReport) -> None:
        if settlement.state is OutboxState.SENT:
            report.sent += 1
        elif settlement.state is OutboxState.QUEUED and settlement.counts_attempt:
            report.retrying += 1
        elif settlement.state is OutboxState.FAILED:
            report.failed += 1
            log.warning("mail.failed id=%s to=%s code=%s: %s", entry.id, entry.envelope.recipient,
                        settlement.smtp_code, settlement.detail)
        elif settlement.state is OutboxState.EXPIRED:
            report.expired += 1


def _asked_to_stop(should_stop: Callable[[], bool] | None) -> bool:
    return should_stop is not None and should_stop()


def _taken(claim: Claim, report: SendReport) -> OutboxEntry | None:
    report.expired += claim.expired
    report.failed += claim.abandoned
    return claim.entries[0] if claim.entries else None
