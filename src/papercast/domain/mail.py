"""Mail as data and rules: safe header values and addresses, the outbox's states and transitions,
stable Message-IDs, what each SMTP reply means for a message, and when it is tried again.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.errors import HeaderParseError
from email.headerregistry import AddressHeader
from enum import Enum, StrEnum
from typing import Any

from papercast.domain.backoff import backoff_seconds
from papercast.domain.errors import InvalidInput, PapercastError

# CR and LF end a header line: a value holding one could add headers or a body (header
# injection). NUL and the other C0 controls (tab excepted), DEL and the Unicode line breaks that
# str.splitlines honours have no business in a header either.
_UNSAFE_IN_HEADER = re.compile("[\x00-\x08\x0a-\x1f\x7f\x85\u2028\u2029]")
_HEADER_NAME = re.compile(r"[!-9;-~]+")
# Headers the composer writes itself; a template or caller may not set them.
MANAGED_HEADERS = frozenset({"from", "to", "subject", "date", "message-id", "mime-version",
                             "content-type", "content-transfer-encoding", "auto-submitted"})
# Message-ID parts: dot-atom text without dots (the dots separate the parts).
_ID_PART_UNSAFE = re.compile(r"[^A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+")


def require_clean_header(name: str, value: str) -> str:
    """`value` if it is safe in header `name`; InvalidInput naming the header otherwise."""
    if not _HEADER_NAME.fullmatch(name):
        raise InvalidInput(f"{name!r} is not a valid header name", field="header")
    found = _UNSAFE_IN_HEADER.search(value)
    if found:
        raise InvalidInput(f"{name} holds a line break or control character ({found.group()!r} at "
                           f"position {found.start()}); header values must be one line", field=name)
    return value


@dataclass(frozen=True)
class MailAddress:
    """One mailbox: the bare address for the SMTP envelope and the header form (with a display name)."""

    address: str
    display_name: str = ""

    @property
    def domain(self) -> str:
        return self.address.rsplit("@", 1)[1]


# A bare address of dot-atoms on both sides (`reader.one+tag@mail.example.org`), the common case.
_PLAIN_ADDRESS = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
                            r"@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*")


def parse_mailbox(text: str, field: str) -> MailAddress:
    """Exactly one mailbox (`a@example.org` or `Name <a@example.org>`), or InvalidInput naming `field`.

    International domain names are converted to their ASCII (IDNA) form; a non-ASCII local part
    needs SMTPUTF8, which papercast does not speak, and is refused.
    """
    require_clean_header(field, text)
    if _PLAIN_ADDRESS.fullmatch(text) and max(map(len, text.rsplit("@", 1)[1].split("."))) <= 63:
        return MailAddress(text)  # what the full parse below makes of it, at a fraction of the cost
    not_one = InvalidInput(f"{text!r} is not exactly one mail address like name@example.org", field=field)
    parsed: dict[str, Any] = {}
    try:
        AddressHeader.parse(text, parsed)
    except (HeaderParseError, IndexError, ValueError) as error:
        raise not_one from error
    groups = parsed.get("groups", ())
    mailboxes = [address for group in groups for address in group.addresses]
    if len(mailboxes) != 1 or groups[0].display_name is not None:  # a named group (`team: a@b;`)
        raise not_one
    mailbox = mailboxes[0]
    if not mailbox.username.isascii():
        raise InvalidInput(f"{text!r}: addresses with non-ASCII characters before the @ are not supported",
                           field=field)
    if parsed.get("defects") or not mailbox.username or not mailbox.domain:
        raise not_one
    try:
        domain = mailbox.domain.encode("idna").decode("ascii")
    except UnicodeError as error:
        raise InvalidInput(f"{text!r}: {mailbox.domain!r} is not a valid domain name", field=field) from error
    return MailAddress(f"{mailbox.username}@{domain}", mailbox.display_name)


def outbox_message_id(kind: str, key: str, host: str) -> str:
    """A Message-ID `<kind.key.hash@host>`: readable, and the same for the same kind, key and host.

    `key` is an idempotency key (`digest:42:2026-12-03`) or a unique token. The hash of the whole
    key keeps ids distinct when cleaning the readable part makes two keys look alike.
    """
    digest = hashlib.sha256(f"{kind}\0{key}".encode()).hexdigest()[:16]
    readable = _ID_PART_UNSAFE.sub("-", key).strip("-")[:60] or "mail"
    return f"<{_ID_PART_UNSAFE.sub('-', kind)}.{readable}.{digest}@{host}>"


@dataclass(frozen=True)
class MailRequest:
    """A message a use case wants sent: who to, which template with what values, and its guards.

    `idempotency_key` makes queueing the same request twice a no-op (`digest:42:2026-12-03`);
    `not_after` is the deadline after which the message is no longer worth sending.
    """

    to: str
    template: str
    context: dict[str, Any] = field(default_factory=dict)
    idempotency_key: str | None = None
    not_after: datetime | None = None
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class PreparedMail:
    """A rendered message, ready to be stored in the outbox and sent byte for byte as it is."""

    kind: str
    message_id: str
    sender: str
    recipient: str
    subject: str
    message: str  # the whole RFC 5322 message, 7-bit ASCII
    idempotency_key: str | None = None
    not_after: datetime | None = None


@dataclass(frozen=True)
class QueuedMail:
    """A message now in the outbox: its row and its Message-ID."""

    outbox_id: int
    message_id: str


class OutboxState(StrEnum):
    """queued -> sending (leased) -> sent | failed | expired; a retry goes back to queued."""

    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    EXPIRED = "expired"


# Which state may follow which. `sending -> sending` is a lease taken over after its holder died.
TRANSITIONS: dict[OutboxState | None, frozenset[OutboxState]] = {
    None: frozenset({OutboxState.QUEUED}),
    OutboxState.QUEUED: frozenset({OutboxState.SENDING, OutboxState.EXPIRED}),
    OutboxState.SENDING: frozenset({OutboxState.SENDING, OutboxState.SENT, OutboxState.QUEUED,
                                    OutboxState.FAILED, OutboxState.EXPIRED}),
    OutboxState.SENT: frozenset(),
    OutboxState.FAILED: frozenset(),
    OutboxState.EXPIRED: frozenset(),
}


def require_transition(before: OutboxState | None, after: OutboxState) -> None:
    if after not in TRANSITIONS[before]:
        raise ValueError(f"a mail cannot go from {before or 'nothing'} to {after}")


@dataclass(frozen=True)
class Envelope:
    """What a mailer delivers: the SMTP envelope (sender, one recipient) and the message text."""

    sender: str
    recipient: str
    message_id: str
    message: str


@dataclass(frozen=True)
class Receipt:
    """A delivery the mail system accepted, and what it said."""

    smtp_code: int
    reply: str


@dataclass(frozen=True)
class OutboxEntry:
    """A message claimed for sending: `attempts` already counts the attempt about to be made."""

    id: int
    kind: str
    envelope: Envelope
    attempts: int
    not_after: datetime | None


@dataclass(frozen=True)
class Claim:
    """What one claim found: the messages now leased to the caller, and those it retired instead."""

    entries: list[OutboxEntry]
    expired: int = 0
    abandoned: int = 0  # leases that expired once too often: failed without another attempt


class FailureKind(Enum):
    """What a failed delivery means for the message."""

    TEMPORARY = "temporary"  # 4xx or 552 for this message: try again later
    PERMANENT = "permanent"  # 5xx, or a message that cannot be sent: give up now
    UNKNOWN_OUTCOME = "unknown-outcome"  # the connection broke after the message, before the reply
    UNREACHABLE = "unreachable"  # no session (connect, TLS, greeting, login): not this message's fault


class DeliveryFailed(PapercastError):
    """A mailer could not deliver one message; `kind` says what that means, `smtp_code` what was said."""

    def __init__(self, kind: FailureKind, detail: str, smtp_code: int | None = None) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail
        self.smtp_code = smtp_code

    @property
    def stops_run(self) -> bool:
        """Whether the sender should stop for now: the server is unreachable or said it is closing (421)."""
        return self.kind is FailureKind.UNREACHABLE or self.smtp_code == 421


def classify_reply(code: int) -> FailureKind | None:
    """An SMTP reply code's meaning (RFC 5321 4.2.1): None for success, else temporary or permanent.

    552 (storage exceeded) is temporary despite its class, as RFC 5321 4.5.3.1.10 allows and
    Mailman does.
    """
    if 200 <= code < 400:
        return None
    if 400 <= code < 500 or code == 552:
        return FailureKind.TEMPORARY
    return FailureKind.PERMANENT


@dataclass(frozen=True)
class MailRetryPolicy:
    """Attempts per message and the exponential backoff between them (`domain.backoff`, times
    `factor` per attempt: 1, 3, 9 minutes, ..., as reliability.md E7 suggests for SMTP)."""

    max_attempts: int = 8
    initial_delay: float = 60.0
    max_delay: float = 3600.0
    factor: float = 3.0

    def delay(self, attempts: int, jitter: float) -> timedelta:
        """The wait after the `attempts`-th failed attempt; `jitter` in [0, 1) spreads the upper half."""
        return timedelta(seconds=backoff_seconds(max(attempts, 1), self.initial_delay, self.max_delay,
                                                 jitter, self.factor))


@dataclass(frozen=True)
class Settlement:
    """How an attempt ends for the outbox: the new state, what the server said, when to try again.

    `counts_attempt` is False when the attempt never reached the message (the server was
    unreachable): the claim's attempt is given back.
    """

    state: OutboxState
    detail: str
    smtp_code: int | None = None
    next_attempt_at: datetime | None = None
    counts_attempt: bool = True


def settle_delivered(receipt: Receipt) -> Settlement:
    return Settlement(OutboxState.SENT, receipt.reply or "accepted", receipt.smtp_code)


def settle_failure(entry: OutboxEntry, failure: DeliveryFailed, now: datetime, policy: MailRetryPolicy,
                   jitter: float) -> Settlement:
    """Where a failed attempt leaves the message (reliability.md E7)."""
    code = failure.smtp_code
    if failure.kind is FailureKind.UNREACHABLE:
        return Settlement(OutboxState.QUEUED, f"not attempted: {failure.detail}", code, now,
                          counts_attempt=False)
    if failure.kind is FailureKind.PERMANENT:
        return Settlement(OutboxState.FAILED, failure.detail, code)
    detail = failure.detail
    if failure.kind is FailureKind.UNKNOWN_OUTCOME:
        detail = f"possible duplicate: {detail}"
    # A message with a deadline (a digest: its period's end) is worth every retry until then: a
    # mailbox that greylists or is full for a morning still gets it; after, it expires. Only
    # messages without one give up after a number of attempts.
    if entry.not_after is None and entry.attempts >= policy.max_attempts:
        return Settlement(OutboxState.FAILED, f"gave up after {entry.attempts} attempts: {detail}", code)
    next_attempt_at = now + policy.delay(entry.attempts, jitter)
    if entry.not_after is not None and next_attempt_at >= entry.not_after:
        return Settlement(OutboxState.EXPIRED, f"deadline passes before the next attempt: {detail}", code)
    return Settlement(OutboxState.QUEUED, detail, code, next_attempt_at)
