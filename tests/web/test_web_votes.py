"""Votes, saves, the library and trending through the web: a reader signed in by mailed link
upvotes a paper and it rises in trending, takes the vote back and it falls back; the forms work
without JavaScript, the API with a session's CSRF header or a write-scoped token; refusals for a
read-only token, no credentials, an unknown paper, a flood; and the library's exports."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from accounts_support import browser, csrf_in, sign_in
from fastapi.testclient import TestClient
from web_corpus import HOSTILE_ID, MATH_ID, make_papercast

from papercast.bootstrap import Papercast
from papercast.domain.accounts import Scope, UserState
from papercast.domain.papers import Author, ExternalSignal, PaperRecord
from papercast.mail.memory import MemoryMailer
from papercast.web.app import create_app
from support.clock import ManualClock

ANN, BOB = "ann@example.org", "bob@example.org"
# Hugging Face papers of the last days (the clock stands at 2026-12-03): with the default
# weights 2612.10002 (3 upvotes there) trends just above 2612.10001 (2 upvotes there); one local
# upvote lifts 2612.10001 above it.
LIFTED, ABOVE, NEWEST = "2612.10001", "2612.10002", "2612.10003"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def site(database_url: str, tmp_path: Path, clock: ManualClock) -> Iterator[Papercast]:
    papercast = make_papercast(database_url, tmp_path, clock, votes_per_account_per_minute=5,
                               votes_per_address_per_minute=8)
    report = papercast.ingest.ingest([
        hf_paper(LIFTED, date(2026, 12, 2), 2), hf_paper(ABOVE, date(2026, 12, 2), 3),
        hf_paper(NEWEST, date(2026, 12, 3), 40)])
    assert report.new == 3
    yield papercast
    papercast.close()


def hf_paper(paper_id: str, announced: date, upvotes: int) -> PaperRecord:
    return PaperRecord(paper_id=paper_id, title=f"Trending paper {paper_id}", source="hf-daily",
                       authors=(Author("Grace Hopper", "Hopper", "Grace"),), categories=("cs.CL",),
                       announced_on=announced, signal=ExternalSignal("hf-daily", upvotes=upvotes))


@pytest.fixture
def client(site: Papercast) -> Iterator[TestClient]:
    with TestClient(create_app(site.web_services()), follow_redirects=False) as test_client:
        yield test_client


def trending_ids(client: TestClient, window: str = "trending") -> list[str]:
    answer = client.get(f"/api/v1/trending?window={window}")
    assert answer.status_code == 200, answer.text
    return [result["paper"]["id"] for result in answer.json()["results"]]


def page_csrf(client: TestClient) -> str:
    found = re.search(r'<meta name="csrf-token" content="([0-9a-f]+)">', client.get("/").text)
    assert found, "not signed in"
    return found.group(1)


def write_token(site: Papercast, email: str, scope: Scope) -> str:
    user = site.accounts().add_user(email)
    token, _ = site.accounts().create_api_token(user.id, "script", scope)
    return token


def test_upvote_lifts_a_paper_in_trending_and_taking_it_back_restores_it(
        client: TestClient, site: Papercast, mailer: MemoryMailer, clock: ManualClock) -> None:
    anonymous = browser(client)
    before_page = anonymous.get("/")
    assert before_page.headers["cache-control"].startswith("public")
    assert trending_ids(anonymous) == [NEWEST, ABOVE, LIFTED]
    sign_in(client, site, mailer, ANN)

    # Without JavaScript: the button is a form that posts and comes back to the page.
    home = client.get("/")
    assert f'action="/papers/{LIFTED}/vote"' in home.text
    assert home.headers["cache-control"] == "private, no-store"
    pressed = client.post(f"/papers/{LIFTED}/vote", data={"csrf_token": csrf_in(home.text), "on": "1",
                                                          "next": "/?tab=week"})
    assert (pressed.status_code, pressed.headers["location"]) == (303, "/?tab=week")
    assert trending_ids(client) == [NEWEST, LIFTED, ABOVE]
    after = client.get("/")
    assert re.search(rf'action="/papers/{LIFTED}/vote"[^>]*>\s*<input[^>]*>\s*<input type="hidden" name="on" '
                     r'value="0">', after.text)  # the button now takes the vote back
    clock.advance(2)  # past the response cache's version reuse (one second)
    anonymous_after = anonymous.get("/")
    assert anonymous_after.text != before_page.text
    assert anonymous_after.headers["cache-control"].startswith("public")
    assert trending_ids(anonymous) == [NEWEST, LIFTED, ABOVE]

    # With JavaScript: the same through the API, the session's CSRF token in a header.
    undone = client.delete(f"/api/v1/papers/{LIFTED}/vote", headers={"X-CSRF-Token": page_csrf(client)})
    assert undone.status_code == 200, undone.text
    assert undone.json() == {"paper_id": LIFTED, "upvoted": False, "saved": False, "points": 1.0,
                             "upvotes": 0, "saves": 0, "external_upvotes": 2}
    assert undone.headers["cache-control"] == "private, no-store"
    assert trending_ids(client) == [NEWEST, ABOVE, LIFTED]


def test_listings_show_authors_date_categories_and_points(client: TestClient) -> None:
    page = client.get("/")
    item = page.text[page.text.index(f'data-paper="{NEWEST}"'):]
    item = item[:item.index("</li>")]
    for shown in ('<span class="points">20</span>', "Grace Hopper", "3 Dec 2026", ">cs.CL<",
                  'href="/sign-in" title="Sign in to upvote"'):
        assert shown in item, shown
    assert "Trending papers" in page.text and 'aria-current="page">Trending<' in page.text
    newest = client.get("/?tab=newest")
    assert "Newest papers" in newest.text and 'aria-current="page">Newest<' in newest.text
    assert newest.text.index(NEWEST) < newest.text.index(LIFTED)  # newest first
    assert newest.text.count('<span class="points">') == 10  # every paper with its points
    assert client.get("/?tab=fortnight").status_code == 400


def test_windows_list_papers_first_announced_in_them_by_points(client: TestClient) -> None:
    assert trending_ids(client, "today") == [NEWEST, "seed-001"]  # undated: first stored today
    assert trending_ids(client, "week") == [NEWEST, ABOVE, LIFTED, "seed-001"]
    assert set(trending_ids(client, "month")) == {NEWEST, ABOVE, LIFTED, "seed-001"}
    answer = client.get("/api/v1/trending?window=week").json()
    assert answer["since"] == "2026-11-27T00:00:00+00:00" and answer["total"] == 4
    first = answer["results"][0]
    assert first | {"paper": None} == {"paper": None, "points": 20.0, "upvotes": 0, "saves": 0,
                                       "external_upvotes": 40, "score": first["score"]}
    assert client.get("/api/v1/trending?window=year").status_code == 422
    today = client.get("/?tab=today")
    assert today.status_code == 200 and "first announced since" in today.text and LIFTED not in today.text


def test_a_read_only_token_cannot_vote_and_a_write_token_needs_no_csrf(client: TestClient,
                                                                       site: Papercast) -> None:
    script = browser(client)
    read = write_token(site, ANN, Scope.READ)
    refused = script.post(f"/api/v1/papers/{LIFTED}/vote", headers={"Authorization": f"Bearer {read}"})
    assert refused.status_code == 403 and refused.headers["content-type"] == "application/problem+json"
    assert "write" in refused.json()["detail"]
    write = write_token(site, BOB, Scope.WRITE)
    done = script.post(f"/api/v1/papers/arXiv:{LIFTED}v1/vote", headers={"Authorization": f"Bearer {write}"})
    assert done.status_code == 200 and done.json()["upvoted"] is True and done.json()["upvotes"] == 1
    assert done.json()["paper_id"] == LIFTED  # named as the catalog names it
    again = script.post(f"/api/v1/papers/{LIFTED}/vote", headers={"Authorization": f"Bearer {write}"})
    assert again.json()["upvotes"] == 1  # idempotent
    saved = script.post(f"/api/v1/papers/{LIFTED}/save", headers={"Authorization": f"Bearer {write}"})
    assert saved.json() | {} == {"paper_id": LIFTED, "upvoted": True, "saved": True, "points": 3.0,
                                 "upvotes": 1, "saves": 1, "external_upvotes": 2}


def test_votes_need_credentials_a_known_paper_and_a_csrf_token(client: TestClient, site: Papercast,
                                                               mailer: MemoryMailer) -> None:
    anonymous = browser(client)
    refused = anonymous.post(f"/api/v1/papers/{LIFTED}/vote")
    assert refused.status_code == 401 and refused.headers["www-authenticate"].startswith("Bearer")
    assert anonymous.post(f"/papers/{LIFTED}/vote", data={"on": "1"}).status_code == 403  # no form token
    sign_in(client, site, mailer, ANN)
    assert client.post(f"/api/v1/papers/{LIFTED}/vote").status_code == 403  # session, no CSRF header
    assert client.post(f"/papers/{LIFTED}/vote", data={"on": "1"}).status_code == 403
    headers = {"X-CSRF-Token": page_csrf(client)}
    missing = client.post("/api/v1/papers/2612.99999/vote", headers=headers)
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
    assert client.post("/api/v1/papers/not an id/vote", headers=headers).status_code == 404
    assert trending_ids(client) == [NEWEST, ABOVE, LIFTED]


def test_a_vote_flood_from_one_account_is_refused_and_counts_nothing(client: TestClient, site: Papercast,
                                                                     mailer: MemoryMailer,
                                                                     clock: ManualClock) -> None:
    sign_in(client, site, mailer, ANN)
    headers = {"X-CSRF-Token": page_csrf(client)}
    for number in range(1, 6):  # five changes a minute are allowed (the fixture's setting)
        assert client.post(f"/api/v1/papers/2102.{number:05d}/vote", headers=headers).status_code == 200
    flood = client.post(f"/api/v1/papers/{LIFTED}/vote", headers=headers)
    assert flood.status_code == 429 and flood.headers["retry-after"] == "60"
    assert flood.headers["content-type"] == "application/problem+json" and "5 changes a minute" in flood.text
    clock.advance(6)  # past the few seconds a listing's total is reused
    assert client.get("/api/v1/trending?limit=50").json()["total"] == 8  # LIFTED got nothing
    results = client.get("/api/v1/trending?limit=50").json()["results"]
    lifted = [result for result in results if result["paper"]["id"] == LIFTED]
    assert lifted[0]["upvotes"] == 0
    page = client.get("/")
    form = client.post(f"/papers/{LIFTED}/vote", data={"csrf_token": csrf_in(page.text), "on": "1"})
    assert form.status_code == 429 and "try again in 54 s" in form.text
    assert form.headers["retry-after"] == "54"
    clock.advance(61)
    assert client.post(f"/api/v1/papers/{LIFTED}/vote", headers=headers).json()["upvotes"] == 1


def test_a_flood_from_one_address_is_refused_across_accounts(client: TestClient, site: Papercast) -> None:
    tokens = [write_token(site, f"reader{n}@example.org", Scope.WRITE) for n in range(3)]
    answers = [browser(client).post(f"/api/v1/papers/2102.{paper:05d}/vote",
                                    headers={"Authorization": f"Bearer {token}"}).status_code
               for token in tokens for paper in range(1, 4)]
    assert answers == [200] * 8 + [429]  # eight a minute from one address (the fixture's setting)


def test_a_disabled_accounts_votes_stop_counting(client: TestClient, site: Papercast,
                                                 clock: ManualClock) -> None:
    token = write_token(site, ANN, Scope.WRITE)
    browser(client).post(f"/api/v1/papers/{LIFTED}/vote", headers={"Authorization": f"Bearer {token}"})
    assert trending_ids(client) == [NEWEST, LIFTED, ABOVE]
    site.accounts().set_state(ANN, UserState.DISABLED)
    clock.advance(2)  # past the response cache's version reuse
    assert trending_ids(client) == [NEWEST, ABOVE, LIFTED]
    site.accounts().set_state(ANN, UserState.ACTIVE)
    clock.advance(2)
    assert trending_ids(client) == [NEWEST, LIFTED, ABOVE]


def test_the_library_lists_saves_newest_first_and_exports_them(
        client: TestClient, site: Papercast, mailer: MemoryMailer, clock: ManualClock) -> None:
    assert browser(client).get("/library").headers["location"] == "/sign-in"
    assert browser(client).get("/library.bib").status_code == 401
    sign_in(client, site, mailer, ANN)
    headers = {"X-CSRF-Token": page_csrf(client)}
    for paper_id in (MATH_ID, HOSTILE_ID, "hep-th/9901001"):
        assert client.post(f"/api/v1/papers/{paper_id}/save", headers=headers).status_code == 200
        clock.advance(5)
    page = client.get("/library")
    assert page.status_code == 200 and page.headers["cache-control"] == "private, no-store"
    assert "3 saved papers" in page.text and "<script>alert" not in page.text
    assert page.text.index("String Junctions") < page.text.index("Sparse")  # newest save first
    api = client.get("/api/v1/me/library").json()
    assert [entry["paper"]["id"] for entry in api["papers"]] == ["hep-th/9901001", HOSTILE_ID, MATH_ID]
    bib = client.get("/library.bib")
    assert bib.headers["content-type"].startswith("application/x-bibtex")
    assert "attachment" in bib.headers["content-disposition"]
    assert bib.text.count("@misc{") == 3 and "eprint = {hep-th/9901001}" in bib.text
    assert "@misc{hep-th_9901001," in bib.text and "archivePrefix = {arXiv}" in bib.text
    assert bib.text == client.get("/api/v1/me/library?format=bibtex").text
    exported = client.get("/library.json").json()
    assert exported["total"] == 3 and exported["papers"][2]["paper"]["id"] == MATH_ID
    client.delete(f"/api/v1/papers/{HOSTILE_ID}/save", headers=headers)
    assert [e["paper"]["id"] for e in client.get("/api/v1/me/library").json()["papers"]] == [
        "hep-th/9901001", MATH_ID]


def test_trending_feed_and_about_page_show_what_is_in_force(database_url: str, tmp_path: Path) -> None:
    papercast = make_papercast(database_url, tmp_path, ManualClock(), trending_save_weight=2.5,
                               trending_tau_hours=24)
    papercast.ingest.ingest([hf_paper(LIFTED, date(2026, 12, 2), 2)])
    try:
        with TestClient(create_app(papercast.web_services())) as client:
            about = client.get("/about").text
            for shown in ("2.5 × saves", "/ 24 hours", "0.5 × upvotes on Hugging Face", "1 × upvotes"):
                assert shown in about, shown
            feed = client.get("/feeds/trending.atom")
            assert feed.status_code == 200 and feed.headers["content-type"].startswith("application/atom+xml")
            assert f"arxiv.org/abs/{LIFTED}" in feed.text
            assert client.get("/feeds/trending.atom?window=week").status_code == 200
    finally:
        papercast.close()


def test_a_405_names_the_methods_of_the_resource_asked_for(client: TestClient) -> None:
    # `/papers/{id:path}` (GET) matches these paths too; the more specific routes decide.
    vote = client.options(f"/api/v1/papers/{LIFTED}/vote")
    assert vote.status_code == 405 and vote.headers["allow"] == "DELETE, POST"
    similar = client.post(f"/api/v1/papers/{LIFTED}/similar")
    assert similar.status_code == 405 and similar.headers["allow"] == "GET"
