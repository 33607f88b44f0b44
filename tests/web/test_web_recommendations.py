""""For you" through the web on SQLite and PostgreSQL: the page and the API list recommendations
with a true reason; "not interested" works as a form post without JavaScript and through the API
as the script calls it; seeding through the form and the API; the API needs credentials."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from accounts_support import csrf_in, sign_in
from fastapi.testclient import TestClient

from papercast.bootstrap import Papercast, build
from papercast.domain.papers import PaperRecord
from papercast.domain.subscriptions import Preferences
from papercast.domain.trending import Mark
from papercast.mail.memory import MemoryMailer
from papercast.settings import Settings
from papercast.web.app import create_app
from support.clock import ManualClock

ANN = "ann@example.org"
LIKED, HIDDEN = "2612.00001", "2612.00002"


@pytest.fixture
def site(database_url: str, tmp_path: Path) -> Iterator[Papercast]:
    clock = ManualClock()
    settings = Settings.load(env={}, data_dir=tmp_path, database_url=database_url, embedding_model="hashing",
                             web_rate_limit_per_minute=0)
    papercast = build(settings, clock)
    topics = ["sparse attention transformers for long documents", "coral reef ecology and ocean warming"]
    papercast.ingest.ingest([
        PaperRecord(paper_id=f"2612.{topic_number}{number:04d}", source="test",
                    title=f"Paper {topic_number}-{number}",
                    abstract=f"{topics[topic_number]} variant {number}. " * 3, categories=("cs.CL",),
                    announced_on=clock.now().date() - timedelta(days=number))
        for topic_number in range(2) for number in range(1, 7)])
    papercast.embedding_service().catch_up(batch_size=64)
    yield papercast
    papercast.close()


@pytest.fixture
def client(site: Papercast) -> Iterator[TestClient]:
    with TestClient(create_app(site.web_services()), follow_redirects=False) as test_client:
        yield test_client


def test_for_you_lists_reasons_and_not_interested_hides_a_paper_with_and_without_script(
        client: TestClient, site: Papercast) -> None:
    mailer = MemoryMailer()
    sign_in(client, site, mailer, ANN)
    user_id = next(user.id for user in site.accounts().list_users() if user.email == ANN)
    cold = client.get("/for-you")
    assert cold.status_code == 200 and "trending papers" in cold.text
    site.votes().mark(user_id, LIKED, Mark.SAVE, True, "192.0.2.1")
    site.recommendations().refit(user_id)

    page = client.get("/for-you")
    assert page.headers["cache-control"] == "private, no-store"
    assert "because you saved Paper 0-1" in page.text
    assert f'action="/papers/{HIDDEN}/not-interested"' in page.text
    api = client.get("/api/v1/me/recommendations?limit=5").json()
    assert api["cold_start"] is False
    assert [paper["reason"]["paper_id"] for paper in api["papers"]] == [LIKED] * 5
    assert api["papers"][0]["id"] == HIDDEN

    # Without JavaScript: a form post that comes back to the page.
    pressed = client.post(f"/papers/{HIDDEN}/not-interested",
                          data={"csrf_token": csrf_in(page.text), "next": "/for-you"})
    assert (pressed.status_code, pressed.headers["location"]) == (303, "/for-you")
    assert f'/papers/{HIDDEN}"' not in client.get("/for-you").text
    # With JavaScript: the API call the script makes (the session's CSRF token in a header).
    next_one = client.get("/api/v1/me/recommendations?limit=1").json()["papers"][0]["id"]
    answer = client.post(f"/api/v1/papers/{next_one}/not-interested",
                         headers={"X-CSRF-Token": csrf_in(page.text)})
    assert answer.json() == {"paper_id": next_one, "not_interested": True}
    ids = [paper["id"] for paper in client.get("/api/v1/me/recommendations?limit=20").json()["papers"]]
    assert HIDDEN not in ids and next_one not in ids and LIKED not in ids


def test_seeding_through_the_form_and_the_api(client: TestClient, site: Papercast) -> None:
    sign_in(client, site, MemoryMailer(), ANN)
    page = client.get("/for-you")
    posted = client.post("/for-you/seed",
                         data={"csrf_token": csrf_in(page.text), "text": "2612.10001\nnonsense"})
    assert (posted.status_code, posted.headers["location"]) == (303, "/for-you?seeded=1&problems=1")
    answer = client.post("/api/v1/me/seed", headers={"X-CSRF-Token": csrf_in(page.text)},
                         json={"text": "@misc{x, eprint={2612.10002}}\n@misc{y, note={none}}"})
    assert answer.json() == {"used": ["2612.10002"], "problems": [
        {"where": "line 2", "reason": "no eprint, arXiv url, doi or title"}]}


def test_the_api_needs_a_reader(client: TestClient) -> None:
    assert client.get("/api/v1/me/recommendations").status_code == 401
    assert client.post(f"/api/v1/papers/{LIKED}/not-interested").status_code == 401
    assert client.post("/api/v1/me/seed", content=b"2612.00001").status_code == 401


def test_a_digests_signed_link_hides_a_paper_without_a_sign_in(client: TestClient, site: Papercast) -> None:
    user_id = site.accounts().add_user(ANN).id
    service = site.recommendations()
    path = service.not_interested_path(user_id, HIDDEN)
    page = client.get(path)
    assert page.status_code == 200 and "Not interested</button>" in page.text
    assert HIDDEN in [item.paper.paper_id for item in service.recommend(user_id, 20).items]
    token = path.split("token=", 1)[1]
    pressed = client.post(f"/api/v1/not-interested?token={token}", headers={"Accept": "text/html"})
    assert (pressed.status_code, pressed.headers["location"]) == (303, f"/not-interested?done={HIDDEN}")
    assert HIDDEN not in [item.paper.paper_id for item in service.recommend(user_id, 20).items]
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert client.post(f"/api/v1/not-interested?token={forged}").status_code == 403
    other_purpose = site.signer().sign("sign-in", {"u": user_id, "p": LIKED}, site.clock.now())
    assert client.post("/api/v1/not-interested", params={"token": other_purpose}).status_code == 403


def test_a_cold_readers_page_lists_what_they_follow_first(client: TestClient, site: Papercast) -> None:
    mailer = MemoryMailer()
    sign_in(client, site, mailer, ANN)
    user_id = next(user.id for user in site.accounts().list_users() if user.email == ANN)
    voter = site.accounts().add_user("voter@example.org").id
    for paper_id in ("2612.00001", "2612.00002", "2612.10004"):  # trending: two on attention, one on reefs
        site.votes().mark(voter, paper_id, Mark.UPVOTE, True, "192.0.2.1")
    site.index_follower().catch_up()
    site.subscriptions().subscribe_reader(user_id, ANN, Preferences(("coral reef",)))

    page = client.get("/for-you")
    assert page.status_code == 200 and "those in the categories and searches you follow first" in page.text
    listed = list(dict.fromkeys(re.findall(r'href="/papers/(2612\.\d{5})"', page.text)))
    assert listed[:6] == ["2612.10004", "2612.10001", "2612.10002", "2612.10003", "2612.10005", "2612.10006"]
    assert set(listed[6:8]) == {"2612.00001", "2612.00002"}
