"""Shared set-up for mail tests: papercast on a test database with a manual clock, and queueing."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from papercast.bootstrap import Papercast, build
from papercast.domain.mail import MailRequest, QueuedMail
from papercast.settings import Settings
from support.clock import ManualClock

RETRY_MAX = 600.0
MAIL_SETTINGS: dict[str, Any] = {
    "mail_from": "Papercast <papers@example.org>", "base_url": "https://papers.example.org",
    "mail_max_attempts": 4, "mail_retry_initial": 60.0, "mail_retry_max": RETRY_MAX,
}


@contextmanager
def mail_papercast(database_url: str, data_dir: Path, clock: ManualClock,
                   **settings: Any) -> Iterator[Papercast]:
    """Papercast on `database_url` with MAIL_SETTINGS (and `settings` over them), timed by `clock`."""
    app = build(Settings.load(env={}, data_dir=data_dir, database_url=database_url,
                              **{**MAIL_SETTINGS, **settings}), clock)
    try:
        yield app
    finally:
        app.close()


def queue_test_mail(papercast: Papercast, to: str = "reader@example.org", **fields: Any) -> QueuedMail:
    """Queue the `test` template to `to` in a transaction of its own."""
    queued = papercast.mail_queue().submit(
        MailRequest(to=to, template="test", context={"queued_at": "09:00"}, **fields))
    assert queued is not None
    return queued
