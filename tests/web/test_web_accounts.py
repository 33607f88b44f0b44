"""Readers' accounts through the web: sign-in by mailed link, sessions, sign out (here and
everywhere), deleting an account, CSRF refusals, one answer for every address, and private
caching. The mail is sent through the memory mailer and the link read out of it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from accounts_support import browser, csrf_in, link_in, request_link, send_mail, sign_in
from fastapi.testclient import TestClient
from sqlalchemy import select
from web_corpus import make_papercast

from papercast.bootstrap import Papercast
from papercast.domain.accounts import UserState
from papercast.mail.memory import MemoryMailer
from papercast.storage.tables import mail_outbox, users
from papercast.web.app import create_app
from papercast.web.csrf import EXEMPT_PATHS, UNSAFE_METHODS
from support.clock import ManualClock

ANN = "ann@example.org"


@pytest.fixture
def site(database_url: str, tmp_path: Path, clock: ManualClock) -> Iterator[Papercast]:
    papercast = make_papercast(database_url, tmp_path, clock, sign_in_per_address_per_hour=3,
                               sign_in_per_ip_per_hour=8)
    yield papercast
    papercast.close()


@pytest.fixture
def client(site: Papercast) -> Iterator[TestClient]:
    with TestClient(create_app(site.web_services()), follow_redirects=False) as test_client:
        yield test_client


def test_signing_in_by_mailed_link(client: TestClient, site: Papercast, mailer: MemoryMailer) -> None:
    form = client.get("/sign-in")
    assert form.status_code == 200 and form.headers["cache-control"] == "no-store"
    anonymous_cookie = form.headers["set-cookie"]
    assert "papercast_csrf=" in anonymous_cookie and "Path=/sign-in" in anonymous_cookie
    assert "HttpOnly" in anonymous_cookie and "SameSite=lax" in anonymous_cookie
    sent = client.post("/sign-in", data={"email": "  Ann@Example.org ", "csrf_token": csrf_in(form.text)})
    assert (sent.status_code, sent.headers["location"]) == (303, "/sign-in?sent=1")
    [message] = send_mail(site, mailer)
    assert message["To"] == ANN and "sign-in" in message["Subject"].lower()
    path = link_in(message)
    html = message.get_body(("html",))
    assert html is not None and path.replace("&", "&amp;") in html.get_content()

    landing = client.get(path)
    assert landing.status_code == 200 and ANN in landing.text and "papercast_session" not in client.cookies
    token = path.split("token=", 1)[1]
    confirmed = client.post("/sign-in/confirm", data={"token": token, "csrf_token": csrf_in(landing.text)})
    assert (confirmed.status_code, confirmed.headers["location"]) == (303, "/")
    cookie = confirmed.headers["set-cookie"]
    assert cookie.startswith("papercast_session=") and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert "Path=/" in cookie and "Secure" not in cookie  # served over plain HTTP here

    home = client.get("/")
    assert home.status_code == 200 and 'action="/sign-out"' in home.text and ">Sign in<" not in home.text
    assert home.headers["cache-control"] == "private, no-store"
    me = client.get("/api/v1/me").json()
    assert (me["email"], me["via"], me["scope"], me["is_admin"]) == (ANN, "session", "write", False)


def test_opening_the_link_does_not_sign_in_and_the_button_still_works(
        client: TestClient, site: Papercast, mailer: MemoryMailer) -> None:
    request_link(client, ANN)
    [message] = send_mail(site, mailer)
    path = link_in(message)
    for _ in range(3):  # a mail scanner, a preview, the reader
        assert client.get(path).status_code == 200
    assert client.get("/api/v1/me").status_code == 401
    landing = client.get(path)
    token = path.split("token=", 1)[1]
    assert client.post("/sign-in/confirm", data={"token": token, "csrf_token": csrf_in(landing.text)}) \
        .status_code == 303


def _link(client: TestClient, site: Papercast, mailer: MemoryMailer) -> tuple[str, str]:
    """A fresh sign-in link's token, and the CSRF token of its landing page."""
    request_link(client, ANN)
    path = link_in(send_mail(site, mailer)[-1])
    return path.split("token=", 1)[1], csrf_in(client.get(path).text)


def test_a_replayed_link_is_refused(client: TestClient, site: Papercast, mailer: MemoryMailer) -> None:
    token, csrf = _link(client, site, mailer)
    assert client.post("/sign-in/confirm", data={"token": token, "csrf_token": csrf}).status_code == 303
    other = browser(client)
    landing = other.get(f"/sign-in/confirm?token={token}")
    assert landing.status_code == 400 and "used already" in landing.text
    form_token = csrf_in(other.get("/sign-in").text)
    replay = other.post("/sign-in/confirm", data={"token": token, "csrf_token": form_token})
    assert replay.status_code == 400 and "used already" in replay.text
    assert "papercast_session" not in other.cookies


def test_an_expired_link_is_refused(client: TestClient, site: Papercast, mailer: MemoryMailer,
                                    clock: ManualClock) -> None:
    token, csrf = _link(client, site, mailer)
    clock.advance(timedelta(minutes=30, seconds=1).total_seconds())
    assert "expired" in client.get(f"/sign-in/confirm?token={token}").text
    refused = client.post("/sign-in/confirm", data={"token": token, "csrf_token": csrf})
    assert refused.status_code == 400 and "expired" in refused.text
    assert client.get("/api/v1/me").status_code == 401


def test_a_link_minted_for_another_purpose_or_altered_is_refused(
        client: TestClient, site: Papercast, mailer: MemoryMailer) -> None:
    token, csrf = _link(client, site, mailer)
    payload = site.signer().verify("sign-in", token, site.clock.now(), None).payload
    other_purpose = site.signer().sign("unsubscribe", payload, site.clock.now())
    altered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    for bad in (other_purpose, altered, "", "x" * 40):
        refused = client.post("/sign-in/confirm", data={"token": bad, "csrf_token": csrf})
        assert refused.status_code == 400 and "not valid" in refused.text, bad
    assert client.post("/sign-in/confirm", data={"token": token, "csrf_token": csrf}).status_code == 303


def test_the_form_answers_alike_for_known_unknown_disabled_and_limited_addresses(
        client: TestClient, site: Papercast, mailer: MemoryMailer) -> None:
    accounts = site.accounts()
    accounts.add_user("known@example.org")
    accounts.add_user("off@example.org")
    accounts.set_state("off@example.org", UserState.DISABLED)
    visitor = browser(client)
    token = csrf_in(visitor.get("/sign-in").text)
    answers = {}
    for label, email in (("known", "known@example.org"), ("unknown", "new@example.org"),
                         ("disabled", "off@example.org"), ("known again", "known@example.org"),
                         ("known thrice", "known@example.org"), ("over address limit", "known@example.org")):
        response = visitor.post("/sign-in", data={"email": email, "csrf_token": token})
        answers[label] = (response.status_code, sorted(response.headers.items()), response.content)
    for n in range(5):  # 4 links so far from this client; the limit is 8
        response = visitor.post("/sign-in", data={"email": f"other{n}@example.org", "csrf_token": token})
        answers[f"ip {n}"] = (response.status_code, sorted(response.headers.items()), response.content)
    assert len(set(map(repr, answers.values()))) == 1, answers
    recipients = sorted(message["To"] for message in send_mail(site, mailer))
    assert recipients == ["known@example.org"] * 3 + ["new@example.org"] + \
        [f"other{n}@example.org" for n in range(4)]  # other4 was over the limit of 8 per IP


def test_a_malformed_address_is_told_so(client: TestClient) -> None:
    form = client.get("/sign-in")
    for bad in ("", "not an address", "a@b@c", "Ann <ann@example.org>", "x\r\nBcc: evil@example.org"):
        response = client.post("/sign-in", data={"email": bad, "csrf_token": csrf_in(form.text)})
        assert response.status_code == 400 and 'class="form-error"' in response.text, bad


def test_signing_out_ends_the_session(client: TestClient, site: Papercast, mailer: MemoryMailer) -> None:
    sign_in(client, site, mailer, ANN)
    session = client.cookies["papercast_session"]
    home = client.get("/")
    out = client.post("/sign-out", data={"csrf_token": csrf_in(home.text)})
    assert out.status_code == 303 and 'papercast_session=""' in out.headers["set-cookie"]
    assert "papercast_session" not in client.cookies
    client.cookies.set("papercast_session", session)
    stale = client.get("/api/v1/me")
    assert stale.status_code == 401 and "papercast_session=;" in stale.headers["set-cookie"]  # cleared


def test_signing_out_everywhere_ends_every_session(client: TestClient, site: Papercast,
                                                  mailer: MemoryMailer) -> None:
    laptop, phone = browser(client), browser(client)
    sign_in(laptop, site, mailer, ANN)
    sign_in(phone, site, mailer, ANN)
    settings = laptop.get("/settings")
    assert settings.text.count("<tr><td>") == 2  # two sessions listed
    assert laptop.post("/settings/sign-out-everywhere", data={"csrf_token": csrf_in(settings.text)}) \
        .status_code == 303
    assert phone.get("/api/v1/me").status_code == 401
    assert laptop.get("/settings").headers["location"] == "/sign-in"


def test_signing_in_again_replaces_the_browsers_session(client: TestClient, site: Papercast,
                                                          mailer: MemoryMailer) -> None:
    sign_in(client, site, mailer, ANN)
    first = client.cookies["papercast_session"]
    sign_in(client, site, mailer, ANN)
    assert client.cookies["papercast_session"] != first
    old = browser(client)
    old.cookies.set("papercast_session", first)
    assert old.get("/api/v1/me").status_code == 401
    assert client.get("/api/v1/me").status_code == 200


def test_a_disabled_accounts_session_stops_working(client: TestClient, site: Papercast,
                                                   mailer: MemoryMailer) -> None:
    sign_in(client, site, mailer, ANN)
    site.accounts().set_state(ANN, UserState.DISABLED)
    assert client.get("/api/v1/me").status_code == 401


def test_deleting_the_account_removes_the_address_and_personal_data(
        client: TestClient, site: Papercast, mailer: MemoryMailer) -> None:
    sign_in(client, site, mailer, ANN)
    user_id = client.get("/api/v1/me").json()["id"]
    page = client.get("/settings/delete")
    wrong = client.post("/settings/delete", data={"confirm": "yes", "csrf_token": csrf_in(page.text)})
    assert wrong.status_code == 400 and client.get("/api/v1/me").status_code == 200
    done = client.post("/settings/delete", data={"confirm": "delete", "csrf_token": csrf_in(page.text)})
    assert done.status_code == 303 and "papercast_session" not in client.cookies
    with site.engine.connect() as connection:
        row = connection.execute(select(users).where(users.c.id == user_id)).one()
        assert (row.email, row.state, row.last_sign_in_at) == (None, "deleted", None)
        recipients = connection.execute(select(mail_outbox.c.recipient)).scalars().all()
        assert ANN not in recipients
    sign_in(client, site, mailer, ANN)  # the address may come back: as a new reader
    assert client.get("/api/v1/me").json()["id"] != user_id


def routes(app: object) -> Iterator[tuple[str, str]]:
    """(method, path) of every route of `app`, those of included routers too. FastAPI keeps
    included routers as groups (`effective_route_contexts`); the test below checks that known
    routes are found, so a change there fails loudly instead of testing nothing."""
    for route in getattr(app, "routes", ()):
        contexts = getattr(route, "effective_route_contexts", None)
        for item in (contexts() if callable(contexts) else contexts) or [route]:
            for method in sorted(getattr(item, "methods", None) or ()):
                yield method, item.path


def test_every_state_changing_route_refuses_a_cookie_request_without_a_csrf_token(
        client: TestClient, site: Papercast, mailer: MemoryMailer) -> None:
    # Widening this list needs a reason written down (web/csrf.py): the one-click unsubscribe of
    # RFC 8058 is POSTed by mail providers without cookies; its signed link authorises it.
    assert frozenset({"/unsubscribe"}) == EXEMPT_PATHS
    sign_in(client, site, mailer, ANN)
    unsafe = [(method, path) for method, path in routes(client.app)
              if method in UNSAFE_METHODS and path not in EXEMPT_PATHS]
    assert ("POST", "/sign-out") in unsafe and ("DELETE", "/api/v1/me/tokens/{token_id}") in unsafe
    assert ("POST", "/subscribe/preferences") in unsafe and ("PATCH", "/api/v1/me/subscription") in unsafe
    for method, path in unsafe:
        url = path.replace("{token_id}", "1")
        for extra in ({}, {"data": {"csrf_token": "0" * 64}}, {"headers": {"X-CSRF-Token": "bad"}}):
            response = client.request(method, url, **extra)  # type: ignore[arg-type]
            assert response.status_code == 403, (method, url, extra, response.text)
    assert client.get("/api/v1/me").status_code == 200  # still signed in: nothing was done


def test_an_anonymous_form_needs_its_cookie_and_token(client: TestClient) -> None:
    visitor = browser(client)
    assert visitor.post("/sign-in", data={"email": ANN}).status_code == 403  # no cookie, no token
    token = csrf_in(visitor.get("/sign-in").text)
    assert visitor.post("/sign-in", data={"email": ANN}).status_code == 403  # cookie, no token
    other = browser(client)
    other.get("/sign-in")
    assert other.post("/sign-in", data={"email": ANN, "csrf_token": token}).status_code == 403  # not its own
    assert visitor.post("/sign-in", data={"email": ANN, "csrf_token": token}).status_code == 303


def test_requests_from_another_site_are_refused_even_with_a_token(client: TestClient) -> None:
    token = csrf_in(client.get("/sign-in").text)
    for headers in ({"Origin": "https://evil.example"}, {"Origin": "null"},
                    {"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site"}):
        response = client.post("/sign-in", data={"email": ANN, "csrf_token": token}, headers=headers)
        assert response.status_code == 403, headers
    for headers in ({"Origin": "http://testserver"}, {"Sec-Fetch-Site": "same-origin"}):
        response = client.post("/sign-in", data={"email": ANN, "csrf_token": token}, headers=headers)
        assert response.status_code == 303, headers


def test_a_signed_in_page_is_never_served_to_anonymous_readers_and_vice_versa(
        client: TestClient, site: Papercast, mailer: MemoryMailer) -> None:
    anonymous, reader = browser(client), browser(client)
    first = anonymous.get("/")
    assert first.headers["cache-control"].startswith("public") and ">Sign in<" in first.text
    assert "Cookie" in first.headers["vary"]
    sign_in(reader, site, mailer, ANN)
    mine = reader.get("/")
    assert "/sign-out" in mine.text and ANN in mine.text
    assert mine.headers["cache-control"] == "private, no-store"
    assert "etag" not in mine.headers or mine.headers["etag"] != first.headers["etag"]
    again = anonymous.get("/")
    assert again.text == first.text and ANN not in again.text
    revalidated = reader.get("/", headers={"If-None-Match": first.headers["etag"]})
    assert revalidated.status_code == 200 and "/sign-out" in revalidated.text  # not the anonymous 304


def test_signed_in_cookies_are_secure_behind_https(database_url: str, tmp_path: Path,
                                                   mailer: MemoryMailer) -> None:
    papercast = make_papercast(database_url, tmp_path, base_url="https://papers.example.org")
    try:
        with TestClient(create_app(papercast.web_services()), base_url="https://papers.example.org",
                        follow_redirects=False) as secure:
            form = secure.get("/sign-in")
            assert "Secure" in form.headers["set-cookie"]
            sign_in(secure, papercast, mailer, ANN)
            assert secure.get("/api/v1/me").json()["email"] == ANN
    finally:
        papercast.close()


def test_the_api_says_401_without_credentials(client: TestClient) -> None:
    response = client.get("/api/v1/me")
    assert response.status_code == 401 and response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.headers["cache-control"] == "no-store"
    page = client.get("/settings")
    assert (page.status_code, page.headers["location"]) == (303, "/sign-in")


def test_the_api_allows_no_credentialed_cross_origin_writes(client: TestClient) -> None:
    preflight = client.options("/api/v1/me/tokens/1", headers={
        "Origin": "https://elsewhere.example", "Access-Control-Request-Method": "DELETE",
        "Access-Control-Request-Headers": "authorization"})
    assert "DELETE" not in preflight.headers.get("access-control-allow-methods", "")
    assert "authorization" not in preflight.headers.get("access-control-allow-headers", "").lower()
    assert "access-control-allow-credentials" not in preflight.headers
    assert "access-control-allow-credentials" not in client.get("/api/v1/papers").headers


def _token(client: TestClient, scope: str, name: str = "script") -> str:
    """Create an API token on the settings page; its text, read off the page that answers."""
    settings = client.get("/settings")
    created = client.post("/settings/tokens", data={"name": name, "scope": scope,
                                                    "csrf_token": csrf_in(settings.text)})
    assert created.status_code == 200 and created.headers["cache-control"] == "private, no-store"
    found = re.search(r'<code class="token" id="new-token">(pct_[A-Za-z0-9_-]+)</code>', created.text)
    assert found, created.text
    return found.group(1)


def test_api_tokens_are_shown_once_and_carry_their_scope(client: TestClient, site: Papercast,
                                                         mailer: MemoryMailer) -> None:
    sign_in(client, site, mailer, ANN)
    read, write = _token(client, "read", "reader"), _token(client, "write", "voter")
    settings = client.get("/settings").text
    assert read not in settings and write not in settings and read[:10] in settings  # the prefix only
    script = browser(client)
    script.cookies.clear()
    me = script.get("/api/v1/me", headers={"Authorization": f"Bearer {read}"})
    assert me.json() | {"id": 0} == {"id": 0, "email": ANN, "is_admin": False, "via": "token",
                                      "scope": "read"}
    assert me.headers["cache-control"] == "private, no-store"
    listed = script.get("/api/v1/me/tokens", headers={"Authorization": f"Bearer {read}"}).json()["tokens"]
    voter_id = next(token["id"] for token in listed if token["name"] == "voter")
    refused = script.delete(f"/api/v1/me/tokens/{voter_id}", headers={"Authorization": f"Bearer {read}"})
    assert refused.status_code == 403 and "read" in refused.json()["detail"]
    # A Bearer token is no ambient credential: a write with it needs no CSRF token.
    revoked = script.delete(f"/api/v1/me/tokens/{voter_id}", headers={"Authorization": f"Bearer {write}"})
    assert revoked.status_code == 204
    for path in ("/api/v1/me", "/api/v1/papers"):
        gone = script.get(path, headers={"Authorization": f"Bearer {write}"})
        assert gone.status_code == 401 and gone.headers["www-authenticate"].startswith("Bearer"), path
    assert script.get("/api/v1/me", headers={"Authorization": "Bearer pct_made-up"}).status_code == 401


def test_a_cookie_authorised_api_write_needs_the_csrf_header(client: TestClient, site: Papercast,
                                                             mailer: MemoryMailer) -> None:
    sign_in(client, site, mailer, ANN)
    _token(client, "read")
    [token] = client.get("/api/v1/me/tokens").json()["tokens"]
    assert client.delete(f"/api/v1/me/tokens/{token['id']}").status_code == 403
    page = client.get("/")
    meta = re.search(r'<meta name="csrf-token" content="([0-9a-f]+)">', page.text)
    assert meta is not None
    done = client.delete(f"/api/v1/me/tokens/{token['id']}", headers={"X-CSRF-Token": meta.group(1)})
    assert done.status_code == 204 and client.get("/api/v1/me/tokens").json()["tokens"] == []


def test_a_disabled_accounts_tokens_stop_working(client: TestClient, site: Papercast,
                                                 mailer: MemoryMailer) -> None:
    sign_in(client, site, mailer, ANN)
    token = _token(client, "write")
    site.accounts().set_state(ANN, UserState.DISABLED)
    assert browser(client).get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    site.accounts().set_state(ANN, UserState.ACTIVE)
    assert browser(client).get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_last_seen_is_written_at_most_every_five_minutes(client: TestClient, site: Papercast,
                                                         mailer: MemoryMailer, clock: ManualClock) -> None:
    sign_in(client, site, mailer, ANN)
    user_id = client.get("/api/v1/me").json()["id"]
    signed_in_at = clock.now()

    def last_seen() -> object:
        [session] = site.accounts().sessions(user_id)
        return session.last_seen_at

    clock.advance(240)
    client.get("/api/v1/me")
    assert last_seen() == signed_in_at  # four minutes: no write
    clock.advance(61)
    client.get("/api/v1/me")
    assert last_seen() == clock.now()


def test_the_per_ip_sign_in_limit_counts_an_ipv6_network_by_its_64(site: Papercast) -> None:
    """One IPv6 client holds a whole /64 and may rotate through it: the limit (8 an hour here)
    counts the /64, as the subscription and vote limits do; another /64 is another client."""
    for n in range(10):
        site.accounts().request_sign_in(f"r{n}@example.org", f"2001:db8:1:2::{n + 1:x}")
    site.accounts().request_sign_in("other@example.org", "2001:db8:1:3::1")
    with site.engine.connect() as connection:
        mailed = connection.execute(select(mail_outbox.c.recipient)
                                    .where(mail_outbox.c.kind == "sign-in")).scalars().all()
    assert sorted(mailed) == sorted([f"r{n}@example.org" for n in range(8)] + ["other@example.org"])
