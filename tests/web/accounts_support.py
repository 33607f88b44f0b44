"""Helpers for the account tests: read sign-in links out of the mail papercast sent (through the
memory mailer), read CSRF tokens out of forms, and sign a test client in the way a reader does."""

from __future__ import annotations

import re
from email import message_from_string, policy
from email.message import EmailMessage

from fastapi.testclient import TestClient

from papercast.bootstrap import Papercast
from papercast.mail.memory import MemoryMailer

_LINK = re.compile(r"https?://[^/\s]+(/sign-in/confirm\?token=[A-Za-z0-9_.=-]+)")
_CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')


def browser(client: TestClient) -> TestClient:
    """Another browser on the same app (the same response cache), with cookies of its own."""
    return TestClient(client.app, follow_redirects=False)


def send_mail(papercast: Papercast, mailer: MemoryMailer) -> list[EmailMessage]:
    """Send what the outbox holds through `mailer`; the messages sent now, parsed."""
    before = len(mailer.delivered)
    papercast.outbox_sender(mailer).send_due(100)
    return [message_from_string(envelope.message, policy=policy.default)  # type: ignore[misc]
            for envelope in mailer.delivered[before:]]


def link_in(message: EmailMessage) -> str:
    """The sign-in link's path and query in the text part of `message`."""
    text = message.get_body(("plain",))
    assert text is not None
    found = _LINK.search(text.get_content())
    assert found, text.get_content()
    return found.group(1)


def csrf_in(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "no CSRF token in the page"
    return found.group(1)


def request_link(client: TestClient, email: str) -> int:
    """Ask for a sign-in link as a browser does (the form first, for its token); the status."""
    form = client.get("/sign-in")
    return client.post("/sign-in", data={"email": email, "csrf_token": csrf_in(form.text)}).status_code


def sign_in(client: TestClient, papercast: Papercast, mailer: MemoryMailer, email: str) -> None:
    """Sign `client` in as `email` through the pages and the mailed link."""
    assert request_link(client, email) == 303
    [message] = [m for m in send_mail(papercast, mailer) if m["To"] == email]
    landing = client.get(link_in(message))
    token = re.search(r'name="token" value="([^"]+)"', landing.text)
    assert landing.status_code == 200 and token, landing.text
    fields = {"token": token.group(1), "csrf_token": csrf_in(landing.text)}
    confirmed = client.post("/sign-in/confirm", data=fields)
    assert confirmed.status_code == 303 and "papercast_session" in client.cookies, confirmed.text
