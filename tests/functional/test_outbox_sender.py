"""`OutboxSender.send_due`, the worker's mail step, over the real outbox (SQLite and PostgreSQL) and
the memory mailer with scripted failures: what each kind of failure does to a message and a run."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from papercast.bootstrap import Papercast
from papercast.domain.mail import DeliveryFailed, FailureKind
from papercast.mail.memory import MemoryMailer
from papercast.services.mail import OutboxSender
from papercast.storage.outbox import SqlMailOutbox
from support.clock import ManualClock
from support.mail import RETRY_MAX, mail_papercast, queue_test_mail


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def papercast(database_url: str, tmp_path: Path, clock: ManualClock) -> Iterator[Papercast]:
    with mail_papercast(database_url, tmp_path, clock) as app:
        yield app


@pytest.fixture
def mailer() -> MemoryMailer:
    return MemoryMailer()


@pytest.fixture
def sender(papercast: Papercast, mailer: MemoryMailer) -> OutboxSender:
    return papercast.outbox_sender(mailer)


@pytest.fixture
def outbox(papercast: Papercast) -> SqlMailOutbox:
    return papercast.mail_outbox()


def queue(papercast: Papercast, *recipients: str) -> list[int]:
    return [queue_test_mail(papercast, to).outbox_id for to in recipients]


def failure(kind: FailureKind, code: int | None = None) -> DeliveryFailed:
    return DeliveryFailed(kind, f"scripted {kind.value} {code or ''}".strip(), code)


def test_due_messages_are_sent_in_one_session_and_marked_sent(
        papercast: Papercast, sender: OutboxSender, mailer: MemoryMailer, outbox: SqlMailOutbox) -> None:
    ids = queue(papercast, "a@example.org", "b@example.org", "c@example.org")
    report = sender.send_due(10)
    assert (report.sent, report.failed, report.retrying, report.stopped) == (3, 0, 0, None)
    assert [envelope.recipient for envelope in mailer.delivered] == ["a@example.org", "b@example.org",
                                                                      "c@example.org"]
    assert mailer.sessions_opened == 1
    assert all(outbox.get(outbox_id)[0].state == "sent" for outbox_id in ids)
    assert sender.send_due(10).sent == 0


def test_a_run_sends_at_most_max_messages(papercast: Papercast, sender: OutboxSender,
                                          mailer: MemoryMailer) -> None:
    queue(papercast, *(f"r{n}@example.org" for n in range(5)))
    assert sender.send_due(2).sent == 2
    assert sender.send_due(10).sent == 3


def test_temporary_failures_are_retried_after_backoff_then_delivered(
        papercast: Papercast, sender: OutboxSender, mailer: MemoryMailer, clock: ManualClock,
        outbox: SqlMailOutbox) -> None:
    [outbox_id] = queue(papercast, "a@example.org")
    mailer.fail_next("a@example.org", failure(FailureKind.TEMPORARY, 451),
                     failure(FailureKind.TEMPORARY, 452))
    assert sender.send_due(10).retrying == 1
    assert sender.send_due(10).handled == 0  # not due yet
    clock.advance(RETRY_MAX)
    assert sender.send_due(10).retrying == 1
    clock.advance(RETRY_MAX)
    assert sender.send_due(10).sent == 1
    record, events = outbox.get(outbox_id)
    assert (record.state, record.attempts, len(mailer.delivered)) == ("sent", 3, 1)
    assert [(e.to_state, e.smtp_code) for e in events] == [
        ("queued", None), ("sending", None), ("queued", 451), ("sending", None), ("queued", 452),
        ("sending", None), ("sent", 250)]


def test_a_permanent_failure_ends_the_message_but_not_the_run(papercast: Papercast, sender: OutboxSender,
                                                             mailer: MemoryMailer, clock: ManualClock,
                                                             outbox: SqlMailOutbox) -> None:
    bad, good = queue(papercast, "gone@example.org", "b@example.org")
    mailer.fail_next("gone@example.org", failure(FailureKind.PERMANENT, 550))
    report = sender.send_due(10)
    assert (report.failed, report.sent) == (1, 1)
    clock.advance(RETRY_MAX * 10)
    assert sender.send_due(10).handled == 0
    record, _ = outbox.get(bad)
    assert (record.state, record.attempts, record.last_smtp_code) == ("failed", 1, 550)


def test_an_unreachable_server_stops_the_run_and_costs_no_attempt(papercast: Papercast, sender: OutboxSender,
                                                                 mailer: MemoryMailer,
                                                                 outbox: SqlMailOutbox) -> None:
    first, second = queue(papercast, "a@example.org", "b@example.org")
    mailer.fail_next("a@example.org", failure(FailureKind.UNREACHABLE))
    report = sender.send_due(10)
    assert (report.sent, report.retrying, report.failed) == (0, 0, 0)
    assert report.stopped == "scripted unreachable"
    assert [(outbox.get(i)[0].state, outbox.get(i)[0].attempts) for i in (first, second)] == [
        ("queued", 0), ("queued", 0)]
    assert sender.send_due(10).sent == 2  # the next run finds the server back


def test_a_421_retries_the_message_and_stops_the_run(papercast: Papercast, sender: OutboxSender,
                                                     mailer: MemoryMailer, outbox: SqlMailOutbox) -> None:
    first, second = queue(papercast, "a@example.org", "b@example.org")
    mailer.fail_next("a@example.org", failure(FailureKind.TEMPORARY, 421))
    report = sender.send_due(10)
    assert (report.retrying, report.sent, report.stopped) == (1, 0, "scripted temporary 421")
    assert (outbox.get(first)[0].attempts, outbox.get(second)[0].attempts) == (1, 0)


def test_a_lost_reply_is_retried_and_the_message_arrives_at_most_twice(
        papercast: Papercast, sender: OutboxSender, mailer: MemoryMailer, clock: ManualClock,
        outbox: SqlMailOutbox) -> None:
    [outbox_id] = queue(papercast, "a@example.org")
    mailer.fail_next("a@example.org", failure(FailureKind.UNKNOWN_OUTCOME))
    report = sender.send_due(10)
    assert (report.retrying, report.possible_duplicates) == (1, 1)
    clock.advance(RETRY_MAX)
    assert sender.send_due(10).sent == 1
    assert len(mailer.delivered) == 2
    assert "possible duplicate" in outbox.get(outbox_id)[1][2].detail


def test_after_the_last_attempt_a_temporary_failure_is_final(papercast: Papercast, sender: OutboxSender,
                                                             mailer: MemoryMailer, clock: ManualClock,
                                                             outbox: SqlMailOutbox) -> None:
    [outbox_id] = queue(papercast, "a@example.org")
    mailer.fail_next("a@example.org", *(failure(FailureKind.TEMPORARY, 451) for _ in range(4)))
    for _ in range(4):
        sender.send_due(10)
        clock.advance(RETRY_MAX)
    record, _ = outbox.get(outbox_id)
    assert (record.state, record.attempts) == ("failed", 4)
    assert (record.last_error or "").startswith("gave up after 4 attempts")
    assert mailer.delivered == []


def test_a_message_past_its_deadline_is_never_sent(papercast: Papercast, sender: OutboxSender,
                                                   mailer: MemoryMailer, clock: ManualClock) -> None:
    queue_test_mail(papercast, "a@example.org", not_after=clock.now() + timedelta(minutes=10))
    clock.advance(600)
    report = sender.send_due(10)
    assert (report.expired, report.sent, mailer.delivered) == (1, 0, [])
