"""Digests end to end against a real SMTP server on loopback (aiosmtpd), on SQLite and PostgreSQL:
subscribe -> confirmation mail -> confirm -> the clock reaches the send hour -> exactly one digest
per confirmed subscriber, with both unsubscribe headers and a one-click POST that works -> the
next day's digest does not reach the unsubscribed address. Then the faults: 421, 451 and 550 for
chosen recipients and a connection dropped after DATA."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from papercast.bootstrap import Papercast
from papercast.domain.subscriptions import SubscriberState
from papercast.storage.tables import digest_deliveries, mail_outbox
from papercast.web.app import create_app
from support.clock import ManualClock
from support.digests import BASE, daily, import_subscribers, load_catalog
from support.mail import mail_papercast
from support.smtp_server import DROP, Received, ScriptedHandler, smtp_server

pytestmark = pytest.mark.slow

EVENING = datetime(2026, 12, 2, 20, 0, tzinfo=UTC)
_CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')
_CONFIRM = re.compile(re.escape(BASE) + r"(/subscribe/confirm\?token=[A-Za-z0-9_.=-]+)")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(EVENING)


@pytest.fixture
def handler() -> ScriptedHandler:
    return ScriptedHandler()


@pytest.fixture
def papercast(database_url: str, tmp_path: Path, clock: ManualClock) -> Iterator[Papercast]:
    with mail_papercast(database_url, tmp_path, clock, embedding_model="hashing", smtp_timeout=5.0,
                        subscribe_per_ip_per_hour=0, digest_suppress_after=1) as app:
        load_catalog(app)
        yield app


def send_all(papercast: Papercast, port: int) -> None:
    papercast.settings = replace(papercast.settings, smtp_host="127.0.0.1", smtp_port=port,
                                 smtp_security="none")
    sender = papercast.outbox_sender()
    while sender.send_due(100).handled:
        pass


def digests_to(handler: ScriptedHandler, address: str) -> list[Received]:
    return [received for received in handler.received
            if address in received.recipients and str(received.message["Message-ID"]).startswith("<digest.")]


def csrf(page_text: str) -> str:
    found = _CSRF.search(page_text)
    assert found, "no CSRF token in the page"
    return found.group(1)


def test_subscribe_confirm_digest_and_one_click_unsubscribe(papercast: Papercast, clock: ManualClock,
                                                            handler: ScriptedHandler) -> None:
    with smtp_server(handler) as server, \
            TestClient(create_app(papercast.web_services()), base_url=BASE, follow_redirects=False) as client:
        for email in ("ann@example.org", "bob@example.org", "carol@example.org"):
            form = client.get("/subscribe")
            answer = client.post("/subscribe", data={"email": email, "topics": "diffusion", "send_hour": "8",
                                                     "time_zone": "UTC", "csrf_token": csrf(form.text)})
            assert answer.status_code == 303
        send_all(papercast, server.port)
        confirmations = {received.recipients[0]: received.message for received in handler.received}
        assert set(confirmations) == {"ann@example.org", "bob@example.org", "carol@example.org"}
        for email in ("ann@example.org", "bob@example.org"):  # carol never confirms
            body = confirmations[email].get_body(("plain",))
            assert body is not None
            found = _CONFIRM.search(body.get_content())
            assert found, body.get_content()
            landing = client.get(found.group(1))
            token = found.group(1).split("token=", 1)[1]
            confirmation = client.post("/subscribe/confirm",
                                       data={"token": token, "csrf_token": csrf(landing.text)})
            assert confirmation.status_code == 303

        clock.advance(11 * 3600 + 60)  # 3 December, 07:01: not yet
        assert papercast.digests().plan().queued == 0
        clock.advance(3600)  # 08:01 UTC: the send hour has come
        assert papercast.digests().plan().queued == 2
        send_all(papercast, server.port)
        [ann_digest] = digests_to(handler, "ann@example.org")
        assert len(digests_to(handler, "bob@example.org")) == 1
        assert digests_to(handler, "carol@example.org") == []
        message = ann_digest.message
        assert "A survey of diffusion samplers" in message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        https, mailto = (part.strip(" <>") for part in str(message["List-Unsubscribe"]).split(","))
        assert mailto == "mailto:papers@example.org?subject=unsubscribe"
        assert https.startswith(BASE + "/unsubscribe?token=")
        # What a mail provider does for the one-click button (RFC 8058): a POST with this body,
        # no cookie, no CSRF token.
        provider = TestClient(client.app, base_url=BASE)
        one_click = provider.post(https.removeprefix(BASE), data={"List-Unsubscribe": "One-Click"})
        assert one_click.status_code == 200
        states = {subscriber.email: subscriber.state for subscriber in papercast.subscriptions().list()}
        assert states["ann@example.org"] is SubscriberState.UNSUBSCRIBED

        clock.advance(86_400)  # 4 December, 08:01
        assert papercast.digests().plan().queued == 1  # bob's
        send_all(papercast, server.port)
        assert len(digests_to(handler, "ann@example.org")) == 1  # nothing more after unsubscribing
        assert len(digests_to(handler, "bob@example.org")) == 2


def test_421_451_550_and_a_dropped_connection_each_end_as_they_should(
        papercast: Papercast, clock: ManualClock, handler: ScriptedHandler) -> None:
    emails = ["ok@example.org", "busy@example.org", "greylisted@example.org", "gone@example.org",
              "dropped@example.org"]
    import_subscribers(papercast, [(email, daily("diffusion")) for email in emails])
    clock.advance(12 * 3600)  # 3 December, 08:00
    assert papercast.digests().plan().queued == 5
    handler.rcpt_replies["busy@example.org"].extend(["421 4.3.2 closing, try later"])
    handler.rcpt_replies["greylisted@example.org"].extend(["451 4.7.1 greylisted"] * 50)
    handler.rcpt_replies["gone@example.org"].append("550 5.1.1 no such user")
    handler.data_replies["dropped@example.org"].append(DROP)
    with smtp_server(handler) as server:
        for _ in range(12):  # the retries come after backoffs, within the day
            send_all(papercast, server.port)
            clock.advance(600)
        clock.advance(16 * 3600)  # past the end of 3 December: what still waits expires
        send_all(papercast, server.port)
    papercast.digests().settle()
    with papercast.engine.connect() as connection:
        deliveries = dict(connection.execute(
            select(mail_outbox.c.recipient, digest_deliveries.c.state)
            .join(mail_outbox, mail_outbox.c.id == digest_deliveries.c.outbox_id)).all())
    assert deliveries == {"ok@example.org": "sent", "busy@example.org": "sent", "dropped@example.org": "sent",
                          "gone@example.org": "failed", "greylisted@example.org": "expired"}
    received = [received.recipients[0] for received in handler.received]
    assert received.count("ok@example.org") == 1 and received.count("busy@example.org") == 1
    assert 1 <= received.count("dropped@example.org") <= 2  # the server may have kept the first copy
    assert "gone@example.org" not in received and "greylisted@example.org" not in received
    states = {subscriber.email: subscriber.state for subscriber in papercast.subscriptions().list()}
    assert states["gone@example.org"] is SubscriberState.SUPPRESSED  # 5xx, PAPERCAST_DIGEST_SUPPRESS_AFTER=1
    assert states["greylisted@example.org"] is SubscriberState.CONFIRMED  # 4xx until the end: not a bounce
    status = papercast.digests().status("2026-12-03")[1]
    assert (status["sent"], status["failed"], status["expired"]) == (3, 1, 1)
