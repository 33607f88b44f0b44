"""Contract tests for the mail outbox on SQLite and PostgreSQL: queueing in the caller's transaction,
idempotency keys, claiming with a lease, lease expiry, settling, and the history of every message."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from papercast.bootstrap import Papercast
from papercast.domain.mail import MailRequest, OutboxState, Settlement
from papercast.storage.engine import write_transaction
from papercast.storage.outbox import SqlMailOutbox
from papercast.storage.tables import mail_outbox
from support.clock import ManualClock
from support.mail import mail_papercast, queue_test_mail

LEASE = timedelta(minutes=5)
QUEUED, SENDING, SENT, FAILED, EXPIRED = (OutboxState.QUEUED, OutboxState.SENDING, OutboxState.SENT,
                                          OutboxState.FAILED, OutboxState.EXPIRED)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def papercast(database_url: str, tmp_path: Path, clock: ManualClock) -> Iterator[Papercast]:
    with mail_papercast(database_url, tmp_path, clock) as app:
        yield app


@pytest.fixture
def outbox(papercast: Papercast) -> SqlMailOutbox:
    return papercast.mail_outbox()


def queue(papercast: Papercast, to: str = "reader@example.org", **fields: object) -> int:
    return queue_test_mail(papercast, to, **fields).outbox_id


def claim(outbox: SqlMailOutbox, clock: ManualClock, owner: str = "w1", limit: int = 1,
          max_attempts: int = 3) -> list[int]:
    now = clock.now()
    return [entry.id for entry in outbox.claim_due(owner, now, now + LEASE, max_attempts=max_attempts,
                                                   limit=limit).entries]


def history(outbox: SqlMailOutbox, outbox_id: int) -> list[tuple[str | None, str, int]]:
    return [(event.from_state, event.to_state, event.attempt) for event in outbox.get(outbox_id)[1]]


def test_a_queued_message_is_stored_with_its_message_and_first_event(papercast: Papercast,
                                                                     outbox: SqlMailOutbox) -> None:
    outbox_id = queue(papercast)
    record, events = outbox.get(outbox_id)
    assert (record.state, record.attempts, record.recipient, record.kind) == (
        "queued", 0, "reader@example.org", "test")
    assert record.message_id.startswith("<test.") and record.message_id.endswith("@papers.example.org>")
    assert f"Message-ID: {record.message_id}" in outbox.message_text(outbox_id)
    assert [(e.from_state, e.to_state) for e in events] == [(None, "queued")]


def test_queueing_joins_the_callers_transaction(papercast: Papercast, outbox: SqlMailOutbox) -> None:
    request = MailRequest(to="reader@example.org", template="test", context={"queued_at": "now"})

    class RolledBack(Exception):
        pass

    with pytest.raises(RolledBack), write_transaction(papercast.engine) as connection:
        assert papercast.mail_queue().enqueue(connection, request) is not None
        raise RolledBack
    assert outbox.state_counts()["queued"] == 0
    with write_transaction(papercast.engine) as connection:
        papercast.mail_queue().enqueue(connection, request)
    assert outbox.state_counts()["queued"] == 1


def test_an_idempotency_key_queues_a_message_once(papercast: Papercast, outbox: SqlMailOutbox) -> None:
    request = MailRequest(to="reader@example.org", template="test", context={"queued_at": "now"},
                          idempotency_key="test:reader:2026-12-03")
    first = papercast.mail_queue().submit(request)
    assert first is not None
    assert papercast.mail_queue().submit(request) is None
    with write_transaction(papercast.engine) as connection:
        assert papercast.mail_queue().enqueue(connection, request) is None
        count = connection.execute(select(func.count()).select_from(mail_outbox)).scalar_one()
    assert count == 1


def test_only_due_messages_are_claimed_oldest_first(papercast: Papercast, outbox: SqlMailOutbox,
                                                    clock: ManualClock) -> None:
    first = queue(papercast)
    clock.advance(1)
    second = queue(papercast)
    assert claim(outbox, clock, limit=5) == [first, second]
    assert claim(outbox, clock, limit=5) == []
    record, _ = outbox.get(first)
    assert (record.state, record.attempts) == ("sending", 1)


def test_queued_messages_and_expired_leases_are_claimed_in_one_order_by_due_time(
        papercast: Papercast, outbox: SqlMailOutbox, clock: ManualClock) -> None:
    abandoned = queue(papercast, to="a@example.org")
    assert claim(outbox, clock, owner="dead") == [abandoned]  # its lease runs out at LEASE
    clock.advance(LEASE.total_seconds() - 10)
    before = queue(papercast, to="b@example.org")  # due 10 s before the lease runs out
    clock.advance(20)
    after = queue(papercast, to="c@example.org")  # due 10 s after
    same_time = queue(papercast, to="d@example.org")  # the same instant: the lower id first
    assert outbox.next_due_at() == clock.now() - timedelta(seconds=20)
    assert outbox.has_due(clock.now() - timedelta(seconds=20))
    assert not outbox.has_due(clock.now() - timedelta(seconds=21))
    assert claim(outbox, clock, limit=2) == [before, abandoned]
    assert claim(outbox, clock, limit=5) == [after, same_time]


def test_an_expired_lease_lets_another_sender_take_the_message_over(papercast: Papercast,
                                                                   outbox: SqlMailOutbox,
                                                                   clock: ManualClock) -> None:
    outbox_id = queue(papercast)
    assert claim(outbox, clock, owner="w1") == [outbox_id]
    clock.advance(LEASE.total_seconds() - 1)
    assert claim(outbox, clock, owner="w2") == []
    clock.advance(1)
    assert claim(outbox, clock, owner="w2") == [outbox_id]
    assert history(outbox, outbox_id) == [(None, "queued", 0), ("queued", "sending", 1),
                                          ("sending", "sending", 2)]
    assert "the lease of w1 had expired" in outbox.get(outbox_id)[1][-1].detail
    # The first sender's late answer is ignored: the message is w2's now.
    assert not outbox.settle(outbox_id, "w1", clock.now(), Settlement(FAILED, "550 late", 550))
    assert outbox.get(outbox_id)[0].state == "sending"


def test_a_message_whose_lease_expires_after_the_last_attempt_fails(papercast: Papercast,
                                                                    outbox: SqlMailOutbox,
                                                                    clock: ManualClock) -> None:
    outbox_id = queue(papercast)
    for attempt in range(2):
        assert claim(outbox, clock, owner=f"w{attempt}", max_attempts=2) == [outbox_id]
        clock.advance(LEASE.total_seconds())
    result = outbox.claim_due("w9", clock.now(), clock.now() + LEASE, max_attempts=2)
    assert (result.entries, result.abandoned) == ([], 1)
    record, _ = outbox.get(outbox_id)
    assert (record.state, record.attempts) == ("failed", 2)
    assert "gave up" in (record.last_error or "")


def test_two_claimers_never_get_the_same_message(papercast: Papercast, outbox: SqlMailOutbox,
                                                 clock: ManualClock) -> None:
    queued = {queue(papercast, to=f"reader{n}@example.org") for n in range(24)}
    claimed: dict[str, list[int]] = {"w1": [], "w2": [], "w3": []}
    start = threading.Barrier(len(claimed))

    def drain(owner: str) -> None:
        start.wait()
        while ids := claim(outbox, clock, owner=owner, limit=2):
            claimed[owner].extend(ids)

    threads = [threading.Thread(target=drain, args=(owner,)) for owner in claimed]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    everything = [outbox_id for ids in claimed.values() for outbox_id in ids]
    assert sorted(everything) == sorted(queued)


def test_a_retry_waits_until_its_time_and_counts_the_attempt(papercast: Papercast, outbox: SqlMailOutbox,
                                                             clock: ManualClock) -> None:
    outbox_id = queue(papercast)
    claim(outbox, clock)
    retry_at = clock.now() + timedelta(seconds=90)
    assert outbox.settle(outbox_id, "w1", clock.now(), Settlement(QUEUED, "451 4.3.0 later", 451, retry_at))
    record, _ = outbox.get(outbox_id)
    assert (record.state, record.attempts, record.last_smtp_code, record.next_attempt_at) == (
        "queued", 1, 451, retry_at)
    clock.advance(89)
    assert claim(outbox, clock) == []
    clock.advance(1)
    assert claim(outbox, clock) == [outbox_id]
    assert outbox.get(outbox_id)[0].attempts == 2


def test_an_attempt_that_never_reached_the_server_is_given_back(papercast: Papercast,
                                                                outbox: SqlMailOutbox,
                                                                clock: ManualClock) -> None:
    outbox_id = queue(papercast)
    claim(outbox, clock)
    settlement = Settlement(QUEUED, "not attempted: connection refused", None, clock.now(),
                            counts_attempt=False)
    assert outbox.settle(outbox_id, "w1", clock.now(), settlement)
    assert (outbox.get(outbox_id)[0].state, outbox.get(outbox_id)[0].attempts) == ("queued", 0)
    assert claim(outbox, clock) == [outbox_id]


def test_sent_and_failed_are_final_and_kept_with_their_reply(papercast: Papercast, outbox: SqlMailOutbox,
                                                             clock: ManualClock) -> None:
    sent, failed = queue(papercast, to="a@example.org"), queue(papercast, to="b@example.org")
    claim(outbox, clock, limit=2)
    clock.advance(2)
    assert outbox.settle(sent, "w1", clock.now(), Settlement(SENT, "2.0.0 Ok: queued as 4F2", 250))
    assert outbox.settle(failed, "w1", clock.now(), Settlement(FAILED, "RCPT TO answered 550 5.1.1", 550))
    clock.advance(3600)
    assert claim(outbox, clock, limit=5) == []
    sent_record, events = outbox.get(sent)
    sent_at = clock.now() - timedelta(seconds=3600)
    assert (sent_record.state, sent_record.last_smtp_code, sent_record.sent_at) == ("sent", 250, sent_at)
    assert [(e.to_state, e.smtp_code) for e in events] == [("queued", None), ("sending", None), ("sent", 250)]
    failed_record, _ = outbox.get(failed)
    assert (failed_record.state, failed_record.last_smtp_code, failed_record.last_error) == (
        "failed", 550, "RCPT TO answered 550 5.1.1")
    assert outbox.state_counts() == {"queued": 0, "sending": 0, "sent": 1, "failed": 1, "expired": 0}


def test_a_delivery_is_recorded_even_after_the_lease_passed_on(papercast: Papercast, outbox: SqlMailOutbox,
                                                              clock: ManualClock) -> None:
    outbox_id = queue(papercast)
    claim(outbox, clock, owner="w1")
    clock.advance(LEASE.total_seconds())
    claim(outbox, clock, owner="w2")
    assert outbox.settle(outbox_id, "w1", clock.now(), Settlement(SENT, "ok", 250))
    assert outbox.get(outbox_id)[0].state == "sent"
    # The second sender delivers too: a duplicate, recorded as such, and the message stays sent.
    assert not outbox.settle(outbox_id, "w2", clock.now(), Settlement(SENT, "ok", 250))
    events = outbox.get(outbox_id)[1]
    assert [e.to_state for e in events] == ["queued", "sending", "sending", "sent", "sent"]
    assert "a duplicate" in events[-1].detail


def test_a_message_past_its_deadline_expires_instead_of_being_sent(papercast: Papercast,
                                                                   outbox: SqlMailOutbox,
                                                                   clock: ManualClock) -> None:
    deadline = clock.now() + timedelta(hours=1)
    outbox_id = queue(papercast, not_after=deadline)
    later = queue(papercast, to="other@example.org")
    clock.advance(3600)
    result = outbox.claim_due("w1", clock.now(), clock.now() + LEASE, max_attempts=3)
    assert ([entry.id for entry in result.entries], result.expired) == ([later], 1)
    record, events = outbox.get(outbox_id)
    assert (record.state, record.not_after) == ("expired", deadline)
    assert [e.to_state for e in events] == ["queued", "expired"]


def test_deadlines_in_other_time_zones_are_stored_as_the_same_instant(papercast: Papercast,
                                                                     outbox: SqlMailOutbox) -> None:
    from zoneinfo import ZoneInfo

    deadline = datetime(2026, 12, 3, 20, 0, tzinfo=ZoneInfo("America/New_York"))
    outbox_id = queue(papercast, not_after=deadline)
    assert outbox.get(outbox_id)[0].not_after == deadline.astimezone(UTC)


def test_settling_an_attempt_and_claiming_the_next_is_one_step_that_holds_one_message(
        papercast: Papercast, outbox: SqlMailOutbox, clock: ManualClock) -> None:
    first, second = queue(papercast, to="a@example.org"), queue(papercast, to="b@example.org")
    assert claim(outbox, clock) == [first]
    now = clock.now()
    settled, claimed = outbox.settle_and_claim(first, "w1", now, Settlement(SENT, "ok", 250), now + LEASE,
                                               max_attempts=3)
    assert settled and [entry.id for entry in claimed.entries] == [second]
    assert (outbox.get(first)[0].state, outbox.get(second)[0].state) == ("sent", "sending")
    # A settle whose lease passed on is ignored, and the claim that goes with it still happens.
    clock.advance(LEASE.total_seconds())
    assert claim(outbox, clock, owner="w2") == [second]
    third = queue(papercast, to="c@example.org")
    now = clock.now()
    settled, claimed = outbox.settle_and_claim(second, "w1", now, Settlement(FAILED, "550", 550),
                                               now + LEASE, max_attempts=3)
    assert not settled and [entry.id for entry in claimed.entries] == [third]
    assert outbox.get(second)[0].state == "sending"  # still w2's
