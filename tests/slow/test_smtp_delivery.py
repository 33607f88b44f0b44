"""Mail against a real SMTP server on loopback (aiosmtpd), on SQLite and PostgreSQL: delivery, 421 and
451 retried, 550 failed, a connection dropped after DATA retried (the message arrives at most
twice), an unreachable server or a refused login paused without costing attempts, TLS verified."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from papercast.bootstrap import Papercast
from papercast.mail.smtp import SmtpConfig, SmtpMailer
from papercast.services.mail import OutboxSender
from papercast.storage.outbox import SqlMailOutbox
from support.clock import ManualClock
from support.mail import RETRY_MAX, mail_papercast, queue_test_mail
from support.smtp_server import (
    CLOSE_AFTER,
    DROP,
    LATE,
    Certificate,
    ScriptedHandler,
    free_port,
    make_certificate,
    password_checker,
    smtp_server,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def papercast(database_url: str, tmp_path: Path, clock: ManualClock) -> Iterator[Papercast]:
    with mail_papercast(database_url, tmp_path, clock, smtp_timeout=5.0) as app:
        yield app


@pytest.fixture
def handler() -> ScriptedHandler:
    return ScriptedHandler()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    return make_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def outbox(papercast: Papercast) -> SqlMailOutbox:
    return papercast.mail_outbox()


def sender_for(papercast: Papercast, port: int, **settings: object) -> OutboxSender:
    """A sender wired by settings, as `papercast worker` would be, to the server on `port`."""
    papercast.settings = replace(papercast.settings, smtp_host="127.0.0.1", smtp_port=port,
                                 smtp_security="none", **settings)
    return papercast.outbox_sender()


def queue(papercast: Papercast, to: str) -> tuple[int, str]:
    queued = queue_test_mail(papercast, to)
    return queued.outbox_id, queued.message_id


def test_a_message_is_delivered_with_its_headers_and_both_parts(
        papercast: Papercast, handler: ScriptedHandler, outbox: SqlMailOutbox) -> None:
    outbox_id, message_id = queue(papercast, "Ada Reader <ada@example.org>")
    with smtp_server(handler) as server:
        report = sender_for(papercast, server.port).send_due(10)
    assert (report.sent, report.failed, report.retrying) == (1, 0, 0)
    [received] = handler.received
    assert (received.mail_from, received.recipients) == ("papers@example.org", ["ada@example.org"])
    message = received.message
    assert message["Message-ID"] == message_id
    assert message["From"] == "Papercast <papers@example.org>"
    assert message["To"] == "Ada Reader <ada@example.org>"
    assert message["Subject"] == "papercast test message to ada@example.org"
    assert [part.get_content_type() for part in message.iter_parts()] == ["text/plain", "text/html"]
    record, events = outbox.get(outbox_id)
    assert (record.state, record.attempts, record.last_smtp_code) == ("sent", 1, 250)
    assert "Ok: queued" in events[-1].detail


def test_421_and_451_are_retried_and_then_delivered_once(papercast: Papercast, handler: ScriptedHandler,
                                                          clock: ManualClock, outbox: SqlMailOutbox) -> None:
    outbox_id, message_id = queue(papercast, "ada@example.org")
    handler.data_replies["ada@example.org"].extend(["421 4.7.0 Try again later, closing connection",
                                                    "451 4.3.0 Temporary local problem"])
    with smtp_server(handler) as server:
        sender = sender_for(papercast, server.port)
        first = sender.send_due(10)
        assert (first.retrying, first.stopped) == (1, "the message answered 421 4.7.0 Try again later, "
                                                      "closing connection")
        clock.advance(RETRY_MAX)
        assert sender.send_due(10).retrying == 1
        clock.advance(RETRY_MAX)
        assert sender.send_due(10).sent == 1
    assert handler.copies_of(message_id) == 1
    record, events = outbox.get(outbox_id)
    assert (record.state, record.attempts) == ("sent", 3)
    assert [e.smtp_code for e in events if e.from_state == "sending"] == [421, 451, 250]


def test_550_ends_failed_and_the_connection_carries_the_next_message(papercast: Papercast,
                                                                    handler: ScriptedHandler,
                                                                    clock: ManualClock,
                                                                    outbox: SqlMailOutbox) -> None:
    gone_id, _ = queue(papercast, "gone@example.org")
    ok_id, ok_message_id = queue(papercast, "ada@example.org")
    handler.rcpt_replies["gone@example.org"].append("550 5.1.1 <gone@example.org>: user unknown")
    with smtp_server(handler) as server:
        sender = sender_for(papercast, server.port)
        report = sender.send_due(10)
        clock.advance(RETRY_MAX * 10)
        assert sender.send_due(10).handled == 0
    assert (report.failed, report.sent) == (1, 1)
    record, _ = outbox.get(gone_id)
    assert (record.state, record.attempts, record.last_smtp_code) == ("failed", 1, 550)
    assert record.last_error == "RCPT TO gone@example.org answered 550 5.1.1 <gone@example.org>: user unknown"
    assert [r.recipients for r in handler.received] == [["ada@example.org"]]
    assert len(handler.peers) == 1  # RSET after the 550; one connection for the run


@pytest.mark.parametrize("fault", [DROP, LATE])
def test_a_reply_lost_after_data_is_retried_and_the_message_arrives_at_most_twice(
        papercast: Papercast, handler: ScriptedHandler, clock: ManualClock, outbox: SqlMailOutbox,
        fault: str) -> None:
    outbox_id, message_id = queue(papercast, "ada@example.org")
    handler.data_replies["ada@example.org"].append(fault)
    handler.late_reply_seconds = 3.0
    with smtp_server(handler) as server:
        sender = sender_for(papercast, server.port, smtp_timeout=1.0)
        first = sender.send_due(10)
        assert (first.retrying, first.possible_duplicates, first.stopped) == (1, 1, None)
        clock.advance(RETRY_MAX)
        assert sender.send_due(10).sent == 1
    assert handler.copies_of(message_id) == 2
    record, events = outbox.get(outbox_id)
    assert (record.state, record.attempts) == ("sent", 2)
    assert events[2].detail.startswith("possible duplicate: connection lost after the message was sent")


def test_an_unreachable_server_pauses_sending_without_costing_attempts(papercast: Papercast,
                                                                       handler: ScriptedHandler,
                                                                       outbox: SqlMailOutbox) -> None:
    first_id, _ = queue(papercast, "ada@example.org")
    second_id, _ = queue(papercast, "bob@example.org")
    port = free_port()  # nothing listens here yet
    report = sender_for(papercast, port).send_due(10)
    assert report.handled == 0
    assert report.stopped is not None and "cannot open an SMTP session with 127.0.0.1" in report.stopped
    assert [(outbox.get(i)[0].state, outbox.get(i)[0].attempts) for i in (first_id, second_id)] == [
        ("queued", 0), ("queued", 0)]
    assert outbox.get(first_id)[1][-1].detail.startswith("not attempted: cannot open an SMTP session")
    with smtp_server(handler) as server:
        assert sender_for(papercast, server.port).send_due(10).sent == 2
    assert outbox.get(first_id)[0].attempts == 1


def test_a_refused_login_pauses_sending_and_a_good_one_sends(papercast: Papercast, handler: ScriptedHandler,
                                                             outbox: SqlMailOutbox) -> None:
    outbox_id, _ = queue(papercast, "ada@example.org")
    with smtp_server(handler, authenticator=password_checker("papercast", "right"),
                     auth_require_tls=False) as server:
        refused = sender_for(papercast, server.port, smtp_user="papercast",
                             smtp_password="wrong").send_due(10)
        assert refused.stopped is not None and "refused the login of 'papercast': 535" in refused.stopped
        assert (outbox.get(outbox_id)[0].state, outbox.get(outbox_id)[0].attempts) == ("queued", 0)
        accepted = sender_for(papercast, server.port, smtp_user="papercast",
                              smtp_password="right").send_due(10)
    assert accepted.sent == 1 and len(handler.received) == 1


def test_one_connection_serves_a_run_and_a_closed_one_is_reopened(papercast: Papercast,
                                                                 handler: ScriptedHandler) -> None:
    for name in ("ada", "bob", "cy"):
        queue(papercast, f"{name}@example.org")
    handler.data_replies["bob@example.org"].append(CLOSE_AFTER)
    with smtp_server(handler) as server:
        report = sender_for(papercast, server.port).send_due(10)
    assert (report.sent, report.retrying, report.failed) == (3, 0, 0)
    assert [r.recipients[0] for r in handler.received] == ["ada@example.org", "bob@example.org",
                                                           "cy@example.org"]
    assert len(handler.peers) == 2  # ada and bob on the first connection, cy on a second


def test_a_421_to_mail_from_costs_no_attempt_and_a_reused_connection_is_reopened(
        papercast: Papercast, handler: ScriptedHandler, outbox: SqlMailOutbox) -> None:
    ada_id, _ = queue(papercast, "ada@example.org")
    queue(papercast, "bob@example.org")
    handler.mail_replies.append("421 4.3.2 Service shutting down")
    with smtp_server(handler) as server:
        sender = sender_for(papercast, server.port)
        first = sender.send_due(10)
        assert (first.handled, first.stopped) == (0, "MAIL FROM answered 421 4.3.2 Service shutting down")
        assert (outbox.get(ada_id)[0].state, outbox.get(ada_id)[0].attempts) == ("queued", 0)
        # Ada goes out on a first connection; bob's MAIL FROM is told the connection timed out.
        handler.data_replies["ada@example.org"].append("250 2.0.0 Ok")
        handler.mail_replies.extend(["250 OK", "421 4.4.2 Error: timeout exceeded"])
        second = sender.send_due(10)
    assert (second.sent, second.retrying, second.stopped) == (2, 0, None)
    assert [r.recipients[0] for r in handler.received] == ["ada@example.org", "bob@example.org"]


@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_tls_is_used_and_the_certificate_is_verified(papercast: Papercast, handler: ScriptedHandler,
                                                     certificate: Certificate, outbox: SqlMailOutbox,
                                                     security: str) -> None:
    outbox_id, _ = queue(papercast, "ada@example.org")
    options = ({"tls_context": certificate.server_context(), "require_starttls": True}
               if security == "starttls" else {"ssl_context": certificate.server_context()})
    with smtp_server(handler, **options) as server:
        config = SmtpConfig(host="127.0.0.1", port=server.port, security=security, timeout=5)
        untrusted = papercast.outbox_sender(SmtpMailer(config)).send_due(10)
        assert untrusted.stopped is not None and "CERTIFICATE_VERIFY_FAILED" in untrusted.stopped
        assert outbox.get(outbox_id)[0].attempts == 0
        trusted = papercast.outbox_sender(SmtpMailer(config, certificate.client_context())).send_due(10)
    assert trusted.sent == 1 and len(handler.received) == 1
