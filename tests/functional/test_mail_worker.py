"""Mail through the worker, on SQLite and PostgreSQL: a message queued in a unit of work is sent by
the worker's `send-mail` job, once however many workers run, and `papercast serve` alone (its
in-process worker, woken by the commit) sends it without any other process."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from papercast.bootstrap import Papercast
from papercast.cli.serve import web_app
from papercast.clock import SystemClock
from papercast.domain.mail import MailRequest, OutboxState, QueuedMail
from papercast.domain.papers import PaperRecord
from papercast.worker.runner import Outcome
from papercast.worker.tasks import MAIL_PER_SLICE, build_worker
from support.clock import ManualClock
from support.mail import mail_papercast


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def papercast(database_url: str, tmp_path: Path, clock: ManualClock) -> Iterator[Papercast]:
    with mail_papercast(database_url, tmp_path / "data", clock) as app:
        yield app


def queue(papercast: Papercast, to: str) -> QueuedMail:
    with papercast.units.begin() as transaction:
        queued = transaction.mail.enqueue(MailRequest(to=to, template="test", context={"queued_at": "09:00"}))
    assert queued is not None
    return queued


def eml_files(papercast: Papercast) -> list[Path]:
    return sorted((papercast.settings.data_dir / "mail").glob("*.eml"))


def test_queued_mail_is_sent_once_by_one_of_two_workers(papercast: Papercast, database_url: str,
                                                        tmp_path: Path, clock: ManualClock) -> None:
    queued = queue(papercast, "reader@example.org")
    with mail_papercast(database_url, tmp_path / "data", clock) as other:
        workers = [build_worker(papercast, owner="worker-1"), build_worker(other, owner="worker-2")]
        for worker in workers:
            worker.run_once()
    record, _ = papercast.mail_outbox().get(queued.outbox_id)
    assert record.state == OutboxState.SENT and record.attempts == 1
    assert [path.name for path in eml_files(papercast)] == [f"{queued.message_id.strip('<>')}.eml"]
    assert [job.kind for job in papercast.jobs.list(kinds=["send-mail"])] == ["send-mail"]
    assert workers[0].report.jobs[Outcome.DONE] >= 1
    assert Outcome.DONE not in workers[1].report.jobs  # nothing was left for the second worker


def test_nothing_due_enqueues_no_job_and_a_big_outbox_goes_in_slices(papercast: Papercast,
                                                                    clock: ManualClock) -> None:
    worker = build_worker(papercast)
    worker.run_once()
    assert papercast.jobs.list(kinds=["send-mail"]) == []  # an empty outbox writes no job rows
    for n in range(MAIL_PER_SLICE + 3):
        queue(papercast, f"reader{n}@example.org")
    clock.advance(60)
    worker.run_once()
    assert papercast.mail_outbox().state_counts()["sent"] == MAIL_PER_SLICE + 3
    assert worker.report.jobs[Outcome.CONTINUED] == 1  # 50, then the other 3


def test_serve_alone_sends_mail_queued_in_its_process(database_url: str, tmp_path: Path) -> None:
    with mail_papercast(database_url, tmp_path / "data", SystemClock(),  # type: ignore[arg-type]
                        embedding_model="hashing") as papercast:
        papercast.ingest.ingest([PaperRecord(paper_id="2104.00003", title="Quiet pond", source="test")])
        with TestClient(web_app(papercast, follow=True)):
            queued = queue(papercast, "reader@example.org")
            for _ in range(600):  # up to 30 s on a busy machine; the commit wakes the worker at once
                if papercast.mail_outbox().get(queued.outbox_id)[0].state == OutboxState.SENT:
                    break
                time.sleep(0.05)
        assert papercast.mail_outbox().get(queued.outbox_id)[0].state == OutboxState.SENT
        assert len(eml_files(papercast)) == 1
