"""Digest subscriptions through the web: the small form on every page, subscribe -> confirmation
mail -> confirm (GET shows a button, POST confirms) -> preferences -> one-click unsubscribe
(RFC 8058), one answer for every address, rate limits, and every refusal the issue names.
Mail goes through the memory mailer and the links are read out of it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from accounts_support import browser, csrf_in, send_mail, sign_in
from fastapi.testclient import TestClient
from sqlalchemy import select
from subscription_support import (
    confirm_link_in,
    confirmed,
    preferences_link_in,
    subscribe,
    subscriber_of,
    text_of,
    token_of,
)
from web_corpus import make_papercast

from papercast.bootstrap import Papercast
from papercast.domain.mail import PreparedMail
from papercast.domain.subscriptions import DIGEST_TEMPLATE, Frequency, Preferences, SubscriberState
from papercast.mail.memory import MemoryMailer
from papercast.services.subscriptions import ByLink
from papercast.storage.engine import write_transaction
from papercast.storage.outbox import enqueue_mail
from papercast.storage.tables import mail_outbox, subscribers
from support.clock import ManualClock

ANN = "ann@example.org"
S = SubscriberState


@pytest.fixture
def site(database_url: str, tmp_path: Path, clock: ManualClock) -> Iterator[Papercast]:
    papercast = make_papercast(database_url, tmp_path, clock, subscribe_per_address_per_day=3,
                               subscribe_per_ip_per_hour=8)
    yield papercast
    papercast.close()


@pytest.fixture
def papercast(site: Papercast) -> Papercast:
    """What the shared `client` fixture serves: this module's site, with its clock and limits."""
    return site


def state_of(site: Papercast, email: str) -> SubscriberState:
    with site.engine.connect() as connection:
        return SubscriberState(connection.execute(select(subscribers.c.state)
                                                  .where(subscribers.c.email == email)).scalar_one())


def test_the_small_form_on_every_page_leads_to_the_whole_form(client: TestClient) -> None:
    for path in ("/", "/about", "/search?q=vision", "/papers/2101.00002"):
        page = client.get(path)
        assert '<form class="subscribe-form" action="/subscribe" method="get">' in page.text, path
        assert "data-time-zone" in page.text and "set-cookie" not in page.headers  # still cacheable
    assert '<input type="hidden" name="topic" value="vision">' in client.get("/search?q=vision").text
    form = client.get("/subscribe", params={"email": ANN, "topic": "vision", "time_zone": "Europe/Berlin"})
    assert form.status_code == 200 and form.headers["cache-control"] == "no-store"
    cookie = form.headers["set-cookie"]
    assert "papercast_csrf=" in cookie and "Path=/subscribe" in cookie and "HttpOnly" in cookie
    assert f'value="{ANN}"' in form.text and ">vision</textarea>" in form.text
    assert 'value="Europe/Berlin">' in form.text  # the zone the small form's script reported
    assert 'value="" data-time-zone>' in client.get("/subscribe").text  # none reported: the script fills it


@pytest.mark.parametrize("reported", ["Mars/Olympus", "Etc/Unknown", "x" * 300, "Europe/Berlin\r\nX: y"])
def test_a_zone_the_browser_reports_but_zoneinfo_lacks_falls_back_to_utc(client: TestClient,
                                                                         reported: str) -> None:
    form = client.get("/subscribe", params={"email": ANN, "time_zone": reported})
    assert form.status_code == 200
    # The field is empty (UTC) and the page's script does not fill it in again.
    assert 'placeholder="UTC" spellcheck="false"\n           value="">' in form.text
    done = client.post("/subscribe", data={"email": ANN, "topics": "vision", "time_zone": "",
                                           "csrf_token": csrf_in(form.text)})
    assert done.status_code == 303


def test_subscribe_confirm_and_open_the_preferences(client: TestClient, site: Papercast,
                                                    mailer: MemoryMailer) -> None:
    sent = subscribe(client, "  Ann@Example.org ", name="Ann", topics="vision\n\ncat:cs.LG\n",
                     categories="stat.ML, cs.CV", frequency="weekly", send_hour="7",
                     time_zone="europe/berlin")
    assert (sent.status_code, sent.headers["location"]) == (303, "/subscribe?sent=1")
    assert "Check your mail" in client.get("/subscribe?sent=1").text
    assert state_of(site, ANN) is S.UNCONFIRMED
    [message] = send_mail(site, mailer)
    assert message["To"] == ANN and "Confirm" in message["Subject"]
    text = text_of(message)
    assert "weekly at 07:00, Europe/Berlin time" in text and "topic: cat:stat.ML" in text
    path = confirm_link_in(message)
    html = message.get_body(("html",))
    assert html is not None and path.replace("&", "&amp;") in html.get_content()

    landing = client.get(path)  # what a link scanner does: nothing changes
    assert landing.status_code == 200 and ANN in landing.text and "<code>cat:cs.CV</code>" in landing.text
    assert state_of(site, ANN) is S.UNCONFIRMED
    confirmed_now = client.post("/subscribe/confirm", data={"token": token_of(path),
                                                            "csrf_token": csrf_in(landing.text)})
    assert confirmed_now.status_code == 303
    preferences_path = confirmed_now.headers["location"]
    assert preferences_path.startswith("/subscribe/preferences?token=")
    assert preferences_path.endswith("&confirmed=1")
    [subscriber] = site.subscriptions().list()
    assert subscriber.state is S.CONFIRMED and subscriber.name == "Ann" and subscriber.source == "form"
    assert subscriber.confirmed_at == subscriber.consented_at == site.clock.now()
    assert subscriber.preferences == Preferences(("vision", "cat:cs.LG", "cat:stat.ML", "cat:cs.CV"),
                                                 Frequency.WEEKLY, 7, "Europe/Berlin")
    page = browser(client).get(preferences_path)  # a signed link: no cookie or sign-in needed
    assert page.status_code == 200 and "Your subscription is confirmed." in page.text
    assert "Filler paper number 25 on vision" in page.text  # what the topic matches
    assert page.headers["cache-control"] == "no-store"


def test_changing_the_preferences_by_the_signed_link(client: TestClient, site: Papercast) -> None:
    subscriber = confirmed(site, ANN, Preferences(("vision",)))
    path = site.subscriptions().preferences_path(subscriber)
    visitor = browser(client)
    page = visitor.get(path)
    token = token_of(path)

    def post(**fields: str) -> int:
        return visitor.post("/subscribe/preferences",
                            data={"token": token, "csrf_token": csrf_in(page.text), **fields}).status_code

    assert post(action="add-topic", topic='"graph neural" -survey') == 303
    assert post(action="remove-topic", topic="vision") == 303
    assert post(action="save", frequency="weekly", send_hour="21", time_zone="Pacific/Auckland") == 303
    changed = subscriber_of(site, ANN)
    assert changed.preferences == Preferences(('"graph neural" -survey',), Frequency.WEEKLY, 21,
                                              "Pacific/Auckland")
    assert post(action="pause") == 303 and state_of(site, ANN) is S.PAUSED
    assert post(action="resume") == 303 and state_of(site, ANN) is S.CONFIRMED
    for fields in ({"action": "save", "frequency": "daily", "send_hour": "8", "time_zone": "Mars/Olympus"},
                   {"action": "save", "frequency": "hourly", "send_hour": "8", "time_zone": "UTC"},
                   {"action": "save", "frequency": "daily", "send_hour": "24", "time_zone": "UTC"},
                   {"action": "add-topic", "topic": "diffusion\r\nBcc: eve@example.org"},
                   {"action": "add-topic", "topic": "cat:not_a_category!"},
                   {"action": "explode"}):
        response = visitor.post("/subscribe/preferences",
                                data={"token": token, "csrf_token": csrf_in(page.text), **fields})
        assert response.status_code == 400 and 'class="form-error"' in response.text, fields
    assert subscriber_of(site, ANN).preferences == changed.preferences
    assert visitor.post("/subscribe/preferences", data={"token": token, "action": "pause"}).status_code == 403


def test_a_preferences_link_expires_and_names_one_subscriber(client: TestClient, site: Papercast,
                                                             clock: ManualClock) -> None:
    ann, bob = confirmed(site, ANN), confirmed(site, "bob@example.org")
    path = site.subscriptions().preferences_path(ann)
    assert "bob@example.org" not in client.get(path).text
    assert ANN in client.get(path).text
    clock.advance(timedelta(days=91).total_seconds())
    refused = client.get(path)
    assert refused.status_code == 400 and "expired" in refused.text
    assert client.get(site.subscriptions().preferences_path(bob)).status_code == 200  # a fresh link works


def test_the_form_answers_alike_for_every_address_state(client: TestClient, site: Papercast,
                                                        mailer: MemoryMailer) -> None:
    service = site.subscriptions()
    confirmed(site, "confirmed@example.org")
    paused = confirmed(site, "paused@example.org")
    service.pause(ByLink(token_of(service.preferences_path(paused))))
    service.unsubscribe_by_link(token_of(service.unsubscribe_path(confirmed(site, "gone@example.org"))))
    service.suppress(confirmed(site, "bounced@example.org").id, "hard bounce")
    visitor = browser(client)
    token = csrf_in(visitor.get("/subscribe").text)
    answers = {}
    for label, email in (("new", "new@example.org"), ("unconfirmed", "new@example.org"),
                         ("confirmed", "confirmed@example.org"), ("paused", "paused@example.org"),
                         ("unsubscribed", "gone@example.org"), ("suppressed", "bounced@example.org"),
                         ("third", "new@example.org"), ("over the address limit", "new@example.org")):
        response = visitor.post("/subscribe", data={"email": email, "topics": "vision", "csrf_token": token})
        answers[label] = (response.status_code, sorted(response.headers.items()), response.content)
    for n in range(2):  # 7 requests so far from this client; the limit is 8 an hour
        response = visitor.post("/subscribe", data={"email": f"other{n}@example.org", "csrf_token": token})
        answers[f"ip {n}"] = (response.status_code, sorted(response.headers.items()), response.content)
    assert len(set(map(repr, answers.values()))) == 1, answers
    messages = send_mail(site, mailer)
    recipients = sorted(message["To"] for message in messages)
    assert recipients == sorted(["new@example.org"] * 3 + ["confirmed@example.org", "paused@example.org",
                                                           "gone@example.org", "bounced@example.org",
                                                           "other0@example.org"])
    already = [m for m in messages if m["To"] in ("confirmed@example.org", "paused@example.org")]
    assert all("subscribed already" in text_of(m) for m in already)
    assert all(preferences_link_in(m) for m in already)
    assert state_of(site, "confirmed@example.org") is S.CONFIRMED  # a stranger cannot change it
    assert subscriber_of(site, "confirmed@example.org").preferences == Preferences()  # nor its topics
    assert state_of(site, "paused@example.org") is S.PAUSED
    assert state_of(site, "gone@example.org") is S.UNCONFIRMED  # double opt-in again
    assert state_of(site, "bounced@example.org") is S.UNCONFIRMED


def test_rate_limits_hold_across_processes(database_url: str, tmp_path: Path, site: Papercast,
                                           mailer: MemoryMailer) -> None:
    other = make_papercast(database_url, tmp_path / "other", site.clock, subscribe_per_address_per_day=3,
                           subscribe_per_ip_per_hour=8, ingest=False)
    try:
        for papercast in (site, other, site, other):
            papercast.subscriptions().request(ANN, Preferences(), "203.0.113.7")
    finally:
        other.close()
    assert [m["To"] for m in send_mail(site, mailer)] == [ANN] * 3
    site.clock.advance(timedelta(hours=24, seconds=1).total_seconds())
    site.subscriptions().request(ANN, Preferences(), "203.0.113.7")
    assert [m["To"] for m in send_mail(site, mailer)] == [ANN]


@pytest.mark.parametrize("bad", [
    {"email": ""}, {"email": "not an address"}, {"email": "a@b@c"}, {"email": "Ann <ann@example.org>"},
    {"email": "ann@example.org\r\nBcc: eve@example.org"}, {"email": "ann@example.org\n"},
    {"name": "Ann\r\nBcc: eve@example.org"}, {"topics": "vision\x00Bcc: eve@example.org"},
    {"topics": "cat:not_a_category!"}, {"topics": "\n".join(f"t{n}" for n in range(21))},
    {"categories": "not-a-cat!"}, {"time_zone": "Mars/Olympus"}, {"time_zone": "Europe/Berlin\r\nX: y"},
    {"time_zone": "../../etc/passwd"}, {"send_hour": "25"}, {"frequency": "hourly"},
])
def test_bad_input_is_told_and_nothing_is_stored_or_sent(client: TestClient, site: Papercast,
                                                        mailer: MemoryMailer, bad: dict[str, str]) -> None:
    fields = {"email": ANN, "topics": "vision", **bad}
    response = subscribe(client, fields.pop("email"), **fields)
    assert response.status_code == 400 and 'class="form-error"' in response.text, response.text
    assert site.subscriptions().list() == [] and send_mail(site, mailer) == []


def test_a_confirmation_link_works_once(client: TestClient, site: Papercast, mailer: MemoryMailer) -> None:
    subscribe(client, ANN)
    path = confirm_link_in(send_mail(site, mailer)[0])
    csrf = csrf_in(client.get(path).text)
    first = client.post("/subscribe/confirm", data={"token": token_of(path), "csrf_token": csrf})
    assert first.status_code == 303
    replayed = client.post("/subscribe/confirm", data={"token": token_of(path), "csrf_token": csrf})
    assert replayed.status_code == 400 and "used already" in replayed.text
    assert client.get(path).status_code == 400


def test_an_expired_confirmation_link_is_refused(client: TestClient, site: Papercast, mailer: MemoryMailer,
                                                 clock: ManualClock) -> None:
    subscribe(client, ANN)
    path = confirm_link_in(send_mail(site, mailer)[0])
    csrf = csrf_in(client.get(path).text)
    clock.advance(timedelta(hours=72, seconds=1).total_seconds())
    refused = client.post("/subscribe/confirm", data={"token": token_of(path), "csrf_token": csrf})
    assert refused.status_code == 400 and "expired" in refused.text and 'href="/subscribe"' in refused.text
    assert state_of(site, ANN) is S.UNCONFIRMED


def test_links_minted_for_another_purpose_or_altered_are_refused(client: TestClient, site: Papercast,
                                                                 mailer: MemoryMailer) -> None:
    subscriber = confirmed(site, "bob@example.org")
    service = site.subscriptions()
    unsubscribe_token = token_of(service.unsubscribe_path(subscriber))
    preferences_token = token_of(service.preferences_path(subscriber))
    sign_in_path = site.accounts().login_link(site.accounts().add_user(ANN).email or "")
    subscribe(client, ANN)
    confirm_token = token_of(confirm_link_in(send_mail(site, mailer)[0]))
    csrf = csrf_in(client.get("/subscribe").text)
    for token in (unsubscribe_token, preferences_token, token_of(sign_in_path), confirm_token[:-2] + "AA",
                  "", "not.a.token"):
        assert client.get(f"/subscribe/confirm?token={token}").status_code == 400, token
        response = client.post("/subscribe/confirm", data={"token": token, "csrf_token": csrf})
        assert response.status_code == 400, token
    for token in (confirm_token, preferences_token, unsubscribe_token[:-2] + "AA"):
        assert client.post(f"/unsubscribe?token={token}").status_code == 400
    assert client.get(f"/subscribe/preferences?token={unsubscribe_token}").status_code == 400
    assert state_of(site, "bob@example.org") is S.CONFIRMED and state_of(site, ANN) is S.UNCONFIRMED


def test_a_newer_request_supersedes_the_older_confirmation_link(client: TestClient, site: Papercast,
                                                                mailer: MemoryMailer,
                                                                clock: ManualClock) -> None:
    subscribe(client, ANN, topics="vision")
    first = confirm_link_in(send_mail(site, mailer)[0])
    clock.advance(60)
    subscribe(client, ANN, topics="cat:hep-th")
    second = confirm_link_in(send_mail(site, mailer)[0])
    refused = client.get(first)
    assert refused.status_code == 400 and "newer confirmation mail" in refused.text
    assert "cat:hep-th" in client.get(second).text


def _queue_digest(site: Papercast, email: str, key: str) -> int:
    mail = PreparedMail(kind=DIGEST_TEMPLATE, message_id=f"<digest.{key}@example.org>",
                        sender="p@example.org", recipient=email, subject="digest",
                        message="Subject: digest\r\n\r\nhello\r\n", idempotency_key=key)
    with write_transaction(site.engine) as connection:
        outbox_id = enqueue_mail(connection, mail, site.clock.now())
    assert outbox_id is not None
    return outbox_id


def _outbox_state(site: Papercast, outbox_id: int) -> str:
    with site.engine.connect() as connection:
        return str(connection.execute(select(mail_outbox.c.state).where(mail_outbox.c.id == outbox_id))
                   .scalar_one())


@pytest.mark.parametrize("encoding", ["urlencoded", "multipart"])
def test_one_click_unsubscribe(client: TestClient, site: Papercast, encoding: str) -> None:
    subscriber = confirmed(site, ANN)
    queued = _queue_digest(site, ANN, "digest:1:2026-12-04")
    links = site.subscriptions().links(subscriber)
    path = links.unsubscribe_url.removeprefix(site.settings.public_base_url)
    mail_provider = browser(client)  # no cookies, no CSRF token: what a mail provider sends
    page = mail_provider.get(path)
    assert page.status_code == 200 and "Unsubscribe" in page.text and state_of(site, ANN) is S.CONFIRMED
    body = ({"data": {"List-Unsubscribe": "One-Click"}} if encoding == "urlencoded"
            else {"files": {"List-Unsubscribe": (None, "One-Click")}})
    for _ in range(2):  # idempotent: the same answer again
        response = mail_provider.post(path, **body)  # type: ignore[arg-type]
        assert response.status_code == 200, response.text
        assert "location" not in response.headers and "set-cookie" not in response.headers
        assert "You are unsubscribed" in response.text and response.headers["cache-control"] == "no-store"
        assert state_of(site, ANN) is S.UNSUBSCRIBED
    if encoding == "multipart":
        assert response.request.headers["content-type"].startswith("multipart/form-data")
    assert _outbox_state(site, queued) == "expired"  # nothing queued before arrives after
    assert "Unsubscribed already" in mail_provider.get(path).text


def test_unsubscribe_links_never_expire_and_die_with_the_address(client: TestClient, site: Papercast,
                                                                  clock: ManualClock) -> None:
    service = site.subscriptions()
    path = service.unsubscribe_path(confirmed(site, ANN))
    clock.advance(timedelta(days=2 * 365).total_seconds())
    assert client.post(path, data={"List-Unsubscribe": "One-Click"}).status_code == 200
    other = service.unsubscribe_path(confirmed(site, "bob@example.org"))
    service.remove("bob@example.org")
    assert client.post(other).status_code == 400


def test_the_preferences_page_unsubscribes_with_its_own_button(client: TestClient, site: Papercast) -> None:
    subscriber = confirmed(site, ANN)
    page = client.get(site.subscriptions().preferences_path(subscriber))
    action = re.search(r'<form class="inline-form" method="post" action="(/unsubscribe\?token=[^"]+)"',
                       page.text)
    assert action is not None
    assert client.post(action.group(1).replace("&amp;", "&"),
                       data={"List-Unsubscribe": "One-Click"}).status_code == 200
    assert state_of(site, ANN) is S.UNSUBSCRIBED


def test_a_signed_in_reader_subscribes_with_the_account_without_a_mail(client: TestClient, site: Papercast,
                                                                       mailer: MemoryMailer) -> None:
    sign_in(client, site, mailer, ANN)
    form = client.get("/subscribe")
    assert f"<strong>{ANN}</strong>" in form.text and 'name="email"' not in form.text  # the account's
    done = client.post("/subscribe", data={"topics": "vision", "time_zone": "Asia/Tokyo",
                                           "csrf_token": csrf_in(form.text)})
    assert (done.status_code, done.headers["location"]) == (303, "/subscribe/preferences?saved=1")
    assert send_mail(site, mailer) == []
    [subscriber] = site.subscriptions().list()
    assert (subscriber.state, subscriber.source, subscriber.email) == (S.CONFIRMED, "account", ANN)
    assert subscriber.user_id == client.get("/api/v1/me").json()["id"]
    assert client.get("/subscribe").headers["location"] == "/subscribe/preferences"
    page = client.get("/subscribe/preferences")
    assert page.status_code == 200 and "Asia/Tokyo" in page.text
    pause = client.post("/subscribe/preferences", data={"action": "pause", "csrf_token": csrf_in(page.text)})
    assert pause.status_code == 303 and state_of(site, ANN) is S.PAUSED
    assert "/subscribe/preferences" in client.get("/settings").text


def test_deleting_the_account_removes_its_subscription(client: TestClient, site: Papercast,
                                                       mailer: MemoryMailer) -> None:
    sign_in(client, site, mailer, ANN)
    form = client.get("/subscribe")
    client.post("/subscribe", data={"topics": "vision", "csrf_token": csrf_in(form.text)})
    user_id = client.get("/api/v1/me").json()["id"]
    site.accounts().delete_account(user_id)
    with site.engine.connect() as connection:
        row = connection.execute(select(subscribers)).one()
    assert (row.email, row.user_id, row.state) == (None, None, "unsubscribed")


def test_an_anonymous_subscription_form_needs_its_cookie_and_token(client: TestClient) -> None:
    visitor = browser(client)
    assert visitor.post("/subscribe", data={"email": ANN}).status_code == 403
    token = csrf_in(visitor.get("/subscribe").text)
    assert visitor.post("/subscribe", data={"email": ANN, "csrf_token": token}).status_code == 303
    other = browser(client)
    other.get("/subscribe")
    assert other.post("/subscribe", data={"email": ANN, "csrf_token": token}).status_code == 403
    assert visitor.post("/subscribe", data={"email": ANN, "csrf_token": token},
                        headers={"Origin": "https://evil.example"}).status_code == 403

