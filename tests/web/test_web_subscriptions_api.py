"""The subscription API: `POST /api/v1/subscriptions` answers alike for any address and refuses bad
input with a problem naming the field; a reader's own subscription through `/api/v1/me/subscription`
with an API token; and the OpenAPI document describing all of it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from accounts_support import browser, send_mail
from fastapi.testclient import TestClient
from subscription_support import confirmed, subscriber_of
from web_corpus import make_papercast

from papercast.bootstrap import Papercast
from papercast.domain.accounts import Scope
from papercast.domain.subscriptions import Frequency, Preferences, SubscriberState
from papercast.mail.memory import MemoryMailer
from support.clock import ManualClock

ANN = "ann@example.org"
S = SubscriberState


@pytest.fixture
def papercast(database_url: str, tmp_path: Path, clock: ManualClock) -> Iterator[Papercast]:
    site = make_papercast(database_url, tmp_path, clock, subscribe_per_address_per_day=2)
    yield site
    site.close()


def token_for(papercast: Papercast, email: str, scope: Scope = Scope.WRITE) -> dict[str, str]:
    accounts = papercast.accounts()
    user = accounts.add_user(email)
    token, _info = accounts.create_api_token(user.id, "script", scope)
    return {"Authorization": f"Bearer {token}"}


def test_subscribing_answers_alike_for_any_address(client: TestClient, papercast: Papercast,
                                                   mailer: MemoryMailer) -> None:
    confirmed(papercast, "known@example.org")
    answers = []
    for email in ("new@example.org", "known@example.org", "new@example.org", "new@example.org"):
        response = client.post("/api/v1/subscriptions", json={
            "email": email, "topics": ["cat:cs.LG"], "frequency": "weekly", "time_zone": "Asia/Tokyo"})
        answers.append((response.status_code, sorted(response.headers.items()), response.content))
    assert len(set(map(repr, answers))) == 1 and answers[0][0] == 202
    assert sorted(m["To"] for m in send_mail(papercast, mailer)) == \
        ["known@example.org", "new@example.org", "new@example.org"]  # the third is over the limit of 2
    new = subscriber_of(papercast, "new@example.org")
    assert (new.state, new.source) == (S.UNCONFIRMED, "api")
    assert new.preferences == Preferences(("cat:cs.LG",), Frequency.WEEKLY, 8, "Asia/Tokyo")


@pytest.mark.parametrize(("body", "field"), [
    ({"email": "ann@example.org\r\nBcc: eve@example.org"}, "email"), ({"email": "not an address"}, "email"),
    ({}, "email"), ({"email": ANN, "name": "Ann\nBcc: eve@example.org"}, "name"),
    ({"email": ANN, "topics": ["vision\r\nBcc: eve@example.org"]}, "topics"),
    ({"email": ANN, "topics": ["cat:not_a_category!"]}, "topics"),
    ({"email": ANN, "categories": ["no such"]}, "categories"),
    ({"email": ANN, "time_zone": "Mars/Olympus"}, "time_zone"),
    ({"email": ANN, "send_hour": 24}, "send_hour"),
    ({"email": ANN, "frequency": "hourly"}, "frequency"),
])
def test_bad_input_is_a_problem_naming_the_field(client: TestClient, papercast: Papercast,
                                                 body: dict[str, object], field: str) -> None:
    response = client.post("/api/v1/subscriptions", json=body)
    assert response.status_code == 400 and response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"].startswith(f"{field}:"), response.json()
    assert papercast.subscriptions().list() == []


def test_a_reader_manages_their_subscription_with_a_token(client: TestClient, papercast: Papercast,
                                                          mailer: MemoryMailer) -> None:
    headers = token_for(papercast, ANN)
    assert client.get("/api/v1/me/subscription", headers=headers).status_code == 404
    made = client.post("/api/v1/subscriptions", headers=headers,
                       json={"email": "ignored@example.org", "topics": ["vision"], "send_hour": 6})
    assert made.status_code == 200 and made.headers["cache-control"] == "private, no-store"
    body = made.json()
    assert (body["email"], body["state"], body["topics"]) == (ANN, "confirmed", ["vision"])
    assert body["send_hour"] == 6
    assert send_mail(papercast, mailer) == []  # the account's address needs no confirmation
    changed = client.patch("/api/v1/me/subscription", headers=headers,
                           json={"categories": ["hep-th"], "frequency": "weekly", "paused": True})
    assert changed.status_code == 200
    assert (changed.json()["topics"], changed.json()["frequency"], changed.json()["state"]) == \
        (["cat:hep-th"], "weekly", "paused")
    resumed = client.patch("/api/v1/me/subscription", headers=headers, json={"paused": False})
    assert resumed.json()["state"] == "confirmed" and resumed.json()["topics"] == ["cat:hep-th"]
    bad = client.patch("/api/v1/me/subscription", headers=headers, json={"time_zone": "Nowhere"})
    assert bad.status_code == 400 and bad.json()["detail"].startswith("time_zone:")
    assert client.delete("/api/v1/me/subscription", headers=headers).status_code == 204
    assert client.get("/api/v1/me/subscription", headers=headers).json()["state"] == "unsubscribed"
    refused = client.patch("/api/v1/me/subscription", headers=headers, json={"paused": False})
    assert refused.status_code == 409 and refused.headers["content-type"] == "application/problem+json"


def test_a_read_token_reads_and_nobody_else_may(client: TestClient, papercast: Papercast) -> None:
    reader = token_for(papercast, ANN, Scope.READ)
    assert client.post("/api/v1/subscriptions", headers=reader, json={}).status_code == 403
    assert client.patch("/api/v1/me/subscription", headers=reader, json={"paused": True}).status_code == 403
    assert client.delete("/api/v1/me/subscription", headers=reader).status_code == 403
    anonymous = browser(client)
    for method in ("GET", "PATCH", "DELETE"):
        assert anonymous.request(method, "/api/v1/me/subscription").status_code == 401


def test_the_openapi_document_describes_the_subscription_routes(client: TestClient) -> None:
    paths = client.get("/api/v1/openapi.json").json()["paths"]
    assert set(paths["/api/v1/subscriptions"]) == {"post"}
    assert {"202", "200", "400"} <= set(paths["/api/v1/subscriptions"]["post"]["responses"])
    assert set(paths["/api/v1/me/subscription"]) == {"get", "patch", "delete"}
    assert "409" in paths["/api/v1/me/subscription"]["patch"]["responses"]
    assert "/subscribe" not in paths and "/unsubscribe" not in paths  # pages are not API
