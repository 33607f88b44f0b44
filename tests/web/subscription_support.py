"""Helpers for the subscription tests: subscribe as a browser does (the form first, for its
token), read confirmation links out of the mail, and make confirmed subscribers directly."""

from __future__ import annotations

import re
from email.message import EmailMessage

from accounts_support import csrf_in
from fastapi.testclient import TestClient
from httpx import Response

from papercast.bootstrap import Papercast
from papercast.domain.subscriber_imports import ImportedSubscriber
from papercast.domain.subscriptions import Preferences, Subscriber

_CONFIRM = re.compile(r"https?://[^/\s]+(/subscribe/confirm\?token=[A-Za-z0-9_.=-]+)")
_PREFERENCES = re.compile(r"https?://[^/\s]+(/subscribe/preferences\?token=[A-Za-z0-9_.=-]+)")


def subscribe(client: TestClient, email: str, **fields: str) -> Response:
    """Post the whole subscription form with its CSRF token (the page is fetched first)."""
    form = client.get("/subscribe")
    return client.post("/subscribe", data={"email": email, "csrf_token": csrf_in(form.text), **fields})


def text_of(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def confirm_link_in(message: EmailMessage) -> str:
    found = _CONFIRM.search(text_of(message))
    assert found, text_of(message)
    return found.group(1)


def preferences_link_in(message: EmailMessage) -> str:
    found = _PREFERENCES.search(text_of(message))
    assert found, text_of(message)
    return found.group(1)


def token_of(path: str) -> str:
    return path.split("token=", 1)[1].split("&", 1)[0]


def confirmed(site: Papercast, email: str, preferences: Preferences | None = None) -> Subscriber:
    """A confirmed subscriber made the quickest way (an operator's import)."""
    service = site.subscriptions()
    row = ImportedSubscriber("line 1", email, "", preferences or Preferences(), site.clock.now())
    report = service.import_subscribers([row])
    assert report.added + report.updated == 1, report
    return subscriber_of(site, email)


def subscriber_of(site: Papercast, email: str) -> Subscriber:
    [subscriber] = [found for found in site.subscriptions().list() if found.email == email]
    return subscriber
