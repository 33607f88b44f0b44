"""The unit of work on SQLite and PostgreSQL: a paper change, the job it causes and any other
store's rows written on its connection commit together or not at all."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from papercast.domain.errors import InvalidInput
from papercast.domain.jobs import JobState
from papercast.domain.mail import MailRequest
from papercast.domain.papers import Outcome, Paper, PaperRecord, paper_from_record
from papercast.mail.queue import TemplatedMailQueue
from papercast.mail.render import MailRenderer
from papercast.storage.cursors import SqlCursorStore, write_cursor
from papercast.storage.jobs import SqlJobStore
from papercast.storage.outbox import SqlMailOutbox
from papercast.storage.papers import SqlPaperRepository
from papercast.storage.unit_of_work import SqlUnitOfWork
from support.clock import ManualClock


class Wakeups:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> None:
        self.count += 1


def _paper(paper_id: str) -> tuple[Outcome, Paper]:
    record = PaperRecord(paper_id=paper_id, title=f"Paper {paper_id}", source="t")
    return Outcome.NEW, paper_from_record(record)


def test_a_change_and_the_job_it_causes_commit_together(engine: Engine) -> None:
    clock, wakeups = ManualClock(), Wakeups()
    units = SqlUnitOfWork(engine, clock, on_enqueue=wakeups)
    with units.begin() as transaction:
        assert transaction.papers.save([_paper("2401.00001")]) == 1
        job_id = transaction.jobs.enqueue("test.notify", {"paper": "2401.00001"},
                                          unique_key="notify:2401.00001")
        assert transaction.jobs.enqueue("test.notify", unique_key="notify:2401.00001") is None
        write_cursor(transaction.connection, "other-store", {"at": "1"}, transaction.now)
    assert job_id is not None and wakeups.count == 1
    job = SqlJobStore(engine, clock).get(job_id)
    assert (job.state, job.payload, job.created_at) == (JobState.DUE, {"paper": "2401.00001"}, clock.now())
    assert SqlPaperRepository(engine, clock).get("2401.00001") is not None
    assert SqlCursorStore(engine, clock).get_cursor("other-store") == {"at": "1"}


def test_a_failure_anywhere_in_the_unit_keeps_nothing(engine: Engine) -> None:
    clock, wakeups = ManualClock(), Wakeups()
    units = SqlUnitOfWork(engine, clock, on_enqueue=wakeups)
    with pytest.raises(RuntimeError, match="after the job"), units.begin() as transaction:
        transaction.papers.save([_paper("2401.00002")])
        transaction.jobs.enqueue("test.notify", {"paper": "2401.00002"})
        write_cursor(transaction.connection, "other-store", {"at": "2"}, transaction.now)
        raise RuntimeError("something failed after the job was enqueued")
    assert wakeups.count == 0  # nothing committed, so no worker is woken for it
    assert SqlJobStore(engine, clock).list() == []
    assert SqlPaperRepository(engine, clock).get("2401.00002") is None
    assert SqlCursorStore(engine, clock).get_cursor("other-store") is None


def test_a_unit_that_only_enqueues_takes_no_paper_lock_and_wakes_the_worker(engine: Engine) -> None:
    clock, wakeups = ManualClock(), Wakeups()
    units = SqlUnitOfWork(engine, clock, on_enqueue=wakeups)
    with units.begin() as transaction:
        transaction.jobs.enqueue("test.notify")
    with units.begin() as transaction:
        assert transaction.jobs.enqueue("test.notify", unique_key="k") is not None
    with units.begin() as transaction:
        assert transaction.jobs.enqueue("test.notify", unique_key="k") is None
    assert wakeups.count == 2  # the third unit enqueued nothing new
    assert SqlPaperRepository(engine, clock).max_change_seq() == 0


def _mail_queue(engine: Engine, clock: ManualClock) -> TemplatedMailQueue:
    return TemplatedMailQueue(engine, MailRenderer("https://papers.example.org"), clock,
                              mail_from="papers@example.org", base_url="https://papers.example.org")


def _test_mail(to: str, key: str | None = None) -> MailRequest:
    return MailRequest(to=to, template="test", context={"queued_at": "09:00"}, idempotency_key=key)


def test_a_change_and_the_mail_it_causes_commit_together_and_wake_the_worker(engine: Engine) -> None:
    clock, wakeups = ManualClock(), Wakeups()
    units = SqlUnitOfWork(engine, clock, on_enqueue=wakeups, mail_queue=lambda: _mail_queue(engine, clock))
    with units.begin() as transaction:
        transaction.papers.save([_paper("2401.00003")])
        queued = transaction.mail.enqueue(_test_mail("reader@example.org", key="welcome:1"))
        assert transaction.mail.enqueue(_test_mail("reader@example.org", key="welcome:1")) is None
    assert queued is not None and wakeups.count == 1
    record, _ = SqlMailOutbox(engine).get(queued.outbox_id)
    assert (record.state, record.recipient, record.message_id) == ("queued", "reader@example.org",
                                                                   queued.message_id)
    assert SqlPaperRepository(engine, clock).get("2401.00003") is not None


def test_a_unit_that_rolls_back_leaves_no_mail(engine: Engine) -> None:
    clock, wakeups = ManualClock(), Wakeups()
    units = SqlUnitOfWork(engine, clock, on_enqueue=wakeups, mail_queue=lambda: _mail_queue(engine, clock))
    with pytest.raises(RuntimeError, match="after the mail"), units.begin() as transaction:
        transaction.papers.save([_paper("2401.00004")])
        assert transaction.mail.enqueue(_test_mail("reader@example.org")) is not None
        raise RuntimeError("something failed after the mail was queued")
    assert wakeups.count == 0
    assert SqlMailOutbox(engine).state_counts()["queued"] == 0 and SqlMailOutbox(engine).recent() == []
    assert SqlPaperRepository(engine, clock).get("2401.00004") is None


def test_a_bad_address_is_refused_before_anything_is_written(engine: Engine) -> None:
    clock = ManualClock()
    units = SqlUnitOfWork(engine, clock, mail_queue=lambda: _mail_queue(engine, clock))
    with pytest.raises(InvalidInput, match="not exactly one mail address"), units.begin() as transaction:
        transaction.mail.enqueue(_test_mail("two@example.org, addresses@example.org"))
    assert SqlMailOutbox(engine).recent() == []
