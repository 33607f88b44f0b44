"""Mail rules in `domain.mail`: safe headers and addresses, Message-IDs, reply classes, backoff,
where a failed attempt leaves a message, and which state changes are allowed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.errors import HeaderParseError
from email.headerregistry import AddressHeader
from itertools import product
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from papercast.domain.errors import InvalidInput
from papercast.domain.mail import (
    DeliveryFailed,
    Envelope,
    FailureKind,
    MailRetryPolicy,
    OutboxEntry,
    OutboxState,
    classify_reply,
    outbox_message_id,
    parse_mailbox,
    require_clean_header,
    require_transition,
    settle_failure,
)

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
POLICY = MailRetryPolicy(max_attempts=4, initial_delay=60, max_delay=600)


@pytest.mark.parametrize("bad", ["\r", "\n", "\r\n", "\x00", "\x0b", "\x1b", "\x7f", "\x85", "\u2028",
                                 "\u2029"])
def test_line_breaks_and_control_characters_are_refused_in_header_values(bad: str) -> None:
    with pytest.raises(InvalidInput, match="X-Topic holds a line break or control character") as raised:
        require_clean_header("X-Topic", f"papers{bad}Bcc: victim@example.org")
    assert raised.value.field == "X-Topic"


def test_tabs_and_non_ascii_text_are_fine_in_header_values() -> None:
    assert require_clean_header("Subject", "Ünïcode\tpapers") == "Ünïcode\tpapers"


@pytest.mark.parametrize("name", ["X Topic", "X:Topic", "", "Zeitü"])
def test_header_names_must_be_printable_ascii_without_colon_or_space(name: str) -> None:
    with pytest.raises(InvalidInput, match="not a valid header name"):
        require_clean_header(name, "value")


@pytest.mark.parametrize(("text", "address", "display_name"), [
    ("reader@example.org", "reader@example.org", ""),
    ("Ada Reader <ada@example.org>", "ada@example.org", "Ada Reader"),
    ('"Reader, Ada" <ada@example.org>', "ada@example.org", "Reader, Ada"),
    ("ada@bücher.example", "ada@xn--bcher-kva.example", ""),
])
def test_mailboxes_are_parsed_to_an_envelope_address(text: str, address: str, display_name: str) -> None:
    mailbox = parse_mailbox(text, "to")
    assert (mailbox.address, mailbox.display_name) == (address, display_name)


@pytest.mark.parametrize(("text", "message"), [
    ("a@example.org, b@example.org", "not exactly one mail address"),
    ("not an address", "not exactly one mail address"),
    ("reader@", "not exactly one mail address"),
    ("@example.org", "not exactly one mail address"),
    ("group: a@example.org;", "not exactly one mail address"),
    ("léa@example.org", "non-ASCII characters before the @"),
    ("a@example.org\r\nBcc: victim@example.org", "line break"),
])
def test_anything_but_one_plain_mailbox_is_refused_naming_the_field(text: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message) as raised:
        parse_mailbox(text, "PAPERCAST_MAIL_FROM")
    assert raised.value.field == "PAPERCAST_MAIL_FROM"


def test_message_ids_are_stable_readable_and_distinct() -> None:
    first = outbox_message_id("digest", "digest:42:2026-12-03", "papers.example.org")
    assert first == outbox_message_id("digest", "digest:42:2026-12-03", "papers.example.org")
    assert first.startswith("<digest.digest-42-2026-12-03.") and first.endswith("@papers.example.org>")
    # Keys that clean up to the same readable text still get different ids.
    assert first != outbox_message_id("digest", "digest/42/2026-12-03", "papers.example.org")
    assert first != outbox_message_id("confirm", "digest:42:2026-12-03", "papers.example.org")


@pytest.mark.parametrize(("code", "kind"), [
    (250, None), (251, None), (421, FailureKind.TEMPORARY), (450, FailureKind.TEMPORARY),
    (451, FailureKind.TEMPORARY), (452, FailureKind.TEMPORARY), (552, FailureKind.TEMPORARY),
    (550, FailureKind.PERMANENT), (551, FailureKind.PERMANENT), (553, FailureKind.PERMANENT),
    (554, FailureKind.PERMANENT),
])
def test_reply_codes_are_classified_as_rfc_5321_says_with_552_temporary(code: int,
                                                                         kind: FailureKind | None) -> None:
    assert classify_reply(code) is kind


def test_backoff_grows_threefold_up_to_the_cap_and_jitter_spreads_the_upper_half() -> None:
    waits = [POLICY.delay(attempt, jitter=1.0).total_seconds() for attempt in range(1, 6)]
    assert waits == [60, 180, 540, 600, 600]
    assert POLICY.delay(1, jitter=0.0).total_seconds() == 30
    assert POLICY.delay(2, jitter=0.5).total_seconds() == 135


def _entry(attempts: int = 1, not_after: datetime | None = None) -> OutboxEntry:
    return OutboxEntry(7, "test", Envelope("from@example.org", "to@example.org", "<id@example.org>", "..."),
                       attempts, not_after)


def _failure(kind: FailureKind, code: int | None = None) -> DeliveryFailed:
    return DeliveryFailed(kind, "server said so", code)


def test_a_temporary_failure_is_retried_after_the_backoff() -> None:
    settlement = settle_failure(_entry(2), _failure(FailureKind.TEMPORARY, 451), NOW, POLICY, jitter=1.0)
    assert settlement.state is OutboxState.QUEUED
    assert settlement.next_attempt_at == NOW + timedelta(seconds=180)
    assert (settlement.smtp_code, settlement.counts_attempt) == (451, True)


def test_the_last_allowed_attempt_fails_for_good() -> None:
    settlement = settle_failure(_entry(4), _failure(FailureKind.TEMPORARY, 451), NOW, POLICY, jitter=1.0)
    assert settlement.state is OutboxState.FAILED
    assert settlement.detail.startswith("gave up after 4 attempts")


def test_a_message_with_a_deadline_is_retried_past_the_attempts_until_the_deadline() -> None:
    entry = _entry(9, not_after=NOW + timedelta(hours=6))
    settlement = settle_failure(entry, _failure(FailureKind.TEMPORARY, 451), NOW, POLICY, jitter=1.0)
    assert settlement.state is OutboxState.QUEUED
    assert settlement.next_attempt_at == NOW + timedelta(seconds=600)


def test_a_retry_that_would_come_after_the_deadline_expires_the_message() -> None:
    entry = _entry(1, not_after=NOW + timedelta(seconds=59))
    settlement = settle_failure(entry, _failure(FailureKind.TEMPORARY, 421), NOW, POLICY, jitter=1.0)
    assert settlement.state is OutboxState.EXPIRED


def test_a_permanent_failure_is_final() -> None:
    settlement = settle_failure(_entry(1), _failure(FailureKind.PERMANENT, 550), NOW, POLICY, jitter=0.0)
    assert (settlement.state, settlement.smtp_code) == (OutboxState.FAILED, 550)


def test_an_unknown_outcome_is_retried_and_called_a_possible_duplicate() -> None:
    settlement = settle_failure(_entry(1), _failure(FailureKind.UNKNOWN_OUTCOME), NOW, POLICY, jitter=0.0)
    assert settlement.state is OutboxState.QUEUED
    assert settlement.detail.startswith("possible duplicate")


def test_an_unreachable_server_costs_the_message_no_attempt() -> None:
    settlement = settle_failure(_entry(4), _failure(FailureKind.UNREACHABLE), NOW, POLICY, jitter=0.0)
    assert (settlement.state, settlement.counts_attempt, settlement.next_attempt_at) == (
        OutboxState.QUEUED, False, NOW)


def test_only_a_421_or_an_unreachable_server_stops_a_run() -> None:
    assert _failure(FailureKind.TEMPORARY, 421).stops_run
    assert _failure(FailureKind.UNREACHABLE).stops_run
    assert not _failure(FailureKind.TEMPORARY, 451).stops_run
    assert not _failure(FailureKind.PERMANENT, 550).stops_run


ALLOWED = {
    (None, "queued"), ("queued", "sending"), ("queued", "expired"), ("sending", "sending"),
    ("sending", "sent"), ("sending", "queued"), ("sending", "failed"), ("sending", "expired"),
}


@pytest.mark.parametrize(("before", "after"), list(product([None, *OutboxState], OutboxState)))
def test_every_state_change_is_either_allowed_or_refused(before: OutboxState | None,
                                                         after: OutboxState) -> None:
    if (before and before.value, after.value) in ALLOWED:
        require_transition(before, after)
    else:
        with pytest.raises(ValueError, match="cannot go from"):
            require_transition(before, after)


_ATOM = st.from_regex(r"\A[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,8}\Z")
_LABEL = st.integers(1, 80).flatmap(lambda size: st.text("abcXYZ019-", min_size=size, max_size=size))
_BARE_ADDRESS = st.builds(lambda local, domain: f"{'.'.join(local)}@{'.'.join(domain)}",
                          st.lists(_ATOM, min_size=1, max_size=3), st.lists(_LABEL, min_size=1, max_size=3))


@settings(max_examples=500, deadline=None)
@given(_BARE_ADDRESS)
def test_a_bare_address_is_read_as_the_header_parser_reads_it(text: str) -> None:
    parsed: dict[str, Any] = {}
    try:
        AddressHeader.parse(text, parsed)
        [mailbox] = parsed["groups"][0].addresses
        reference: tuple[str, str] | None = (f"{mailbox.username}@{mailbox.domain.encode('idna').decode()}",
                                             mailbox.display_name)
    except (HeaderParseError, UnicodeError, ValueError):
        reference = None
    try:
        found = parse_mailbox(text, "to")
    except InvalidInput:
        assert reference is None
    else:
        assert (found.address, found.display_name) == reference
