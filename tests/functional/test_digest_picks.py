"""The digest's personal section comes from recommendations: a subscribed reader whose model is
fitted gets the papers it ranks best, never ones the digest lists elsewhere; what a queued digest
showed is left out of that reader's later recommendations; a reader without a model gets none.
Each paper a reader with an account gets carries a signed "not interested" link that works."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from papercast.bootstrap import Papercast, build
from papercast.domain.papers import ExternalSignal, PaperRecord
from papercast.domain.recommendations import SignalKind
from papercast.domain.subscriptions import Frequency, Preferences
from papercast.domain.trending import Mark
from papercast.services.recommendations import NOT_INTERESTED_PURPOSE
from papercast.settings import Settings
from papercast.web.app import create_app
from support.clock import ManualClock
from support.digests import import_subscribers, outbox_messages, text_of

MORNING = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)
WORDS = {
    "graph": "graph neural networks message passing node embeddings over graph structure",
    "galaxy": "galaxy formation dark matter halos cosmological simulations of the early universe",
}


def paper(topic: str, number: int) -> str:
    return f"2612.{list(WORDS).index(topic)}{number:04d}"


def records(today: date) -> list[PaperRecord]:
    return [PaperRecord(paper_id=paper(topic, number), source="test", title=f"{topic.title()} study {number}",
                        abstract=f"{words} variant {number} " * 3, categories=("cs.LG",),
                        announced_on=today - timedelta(days=number))
            for topic, words in WORDS.items() for number in range(1, 9)]


@pytest.fixture
def site(database_url: str, tmp_path: Path) -> Iterator[Papercast]:
    clock = ManualClock(MORNING)
    settings = Settings.load(env={}, data_dir=tmp_path, database_url=database_url, embedding_model="hashing",
                             votes_per_account_per_minute=0, votes_per_address_per_minute=0)
    papercast = build(settings, clock)
    assert papercast.ingest.ingest(records(MORNING.date())).new == 16
    papercast.embedding_service().catch_up(batch_size=64)
    yield papercast
    papercast.close()


def subscribed_reader(site: Papercast, email: str) -> int:
    user_id = site.accounts().add_user(email).id
    site.subscriptions().subscribe_reader(user_id, email, Preferences((), Frequency.DAILY, 8, "UTC"))
    return user_id


def picked(site: Papercast, email: str) -> list[str]:
    sections = site.digests().preview(email, MORNING).digest.sections
    return [item.paper_id for section in sections if section.kind == "picks" for item in section.papers]


def test_a_fitted_reader_gets_picks_from_their_model_and_not_again_after_a_digest(site: Papercast) -> None:
    user_id = subscribed_reader(site, "ann@example.org")
    liked = [paper("graph", 1), paper("graph", 2)]
    for paper_id in liked:
        site.votes().mark(user_id, paper_id, Mark.SAVE, True, "192.0.2.1")
    assert site.recommendations().refit(user_id).fitted

    picks = picked(site, "ann@example.org")
    assert picks, "a fitted reader's digest has a personal section"
    assert not set(picks) & set(liked)
    assert picks[0].startswith("2612.0")  # the model ranks the graph papers first
    digest = site.digests().preview("ann@example.org", MORNING).digest
    other_sections = {item.paper_id for section in digest.sections if section.kind != "picks"
                      for item in section.papers}
    assert not set(picks) & other_sections

    assert site.digests().plan(MORNING).queued == 1
    shown = {item.paper_id for section in digest.sections for item in section.papers}
    later = {item.paper.paper_id for item in site.recommendations().recommend(user_id, 50).items}
    assert shown and not shown & later


def test_a_reader_without_a_model_or_an_account_gets_no_personal_section(site: Papercast) -> None:
    subscribed_reader(site, "bob@example.org")
    assert picked(site, "bob@example.org") == []


def not_interested_links(site: Papercast, part: str) -> dict[str, str]:
    """{paper id the signed token names: the link's path} for each "not interested" link of a
    digest's text or HTML part."""
    found = {}
    for link in re.findall(r"https?://[^\s\"<>]+/not-interested\?token=[^\s\"<>]+", part):
        split = urlsplit(link.replace("&amp;", "&"))
        token = split.query.removeprefix("token=")
        paper_id = site.signer().verify(NOT_INTERESTED_PURPOSE, token, MORNING, None).payload["p"]
        found[str(paper_id)] = f"{split.path}?{split.query}"
    return found


def test_a_readers_digest_carries_working_not_interested_links(site: Papercast) -> None:
    user_id = subscribed_reader(site, "ann@example.org")
    for paper_id in (paper("graph", 1), paper("graph", 2)):
        site.votes().mark(user_id, paper_id, Mark.SAVE, True, "192.0.2.1")
    assert site.recommendations().refit(user_id).fitted
    site.ingest.ingest([PaperRecord(paper_id="2612.09999", source="test", title="Trending today",
                                    abstract="A paper everyone reads.", announced_on=MORNING.date(),
                                    signal=ExternalSignal("hf-daily", upvotes=30))])
    import_subscribers(site, [("bob@example.org", Preferences((), Frequency.DAILY, 8, "UTC"))])
    assert site.digests().plan(MORNING).queued == 2

    messages = outbox_messages(site)
    text = text_of(messages["ann@example.org"])
    html_part = messages["ann@example.org"].get_body(("html",))
    assert html_part is not None
    text_links = not_interested_links(site, text)
    html_links = not_interested_links(site, str(html_part.get_content()))
    picked = text.split("== Picked for you ==", 1)[1].split("\n* ")[1:]
    assert picked, "the digest has a personal section"
    assert set(text_links) == set(html_links) and len(text_links) >= len(picked)
    assert all(any(title_of(site, paper_id) in item for paper_id in text_links) for item in picked)
    assert "2612.09999" in text_links
    bobs = text_of(messages["bob@example.org"])
    assert "Trending today" in bobs and "not-interested" not in bobs  # no account, no link

    victim = next(paper_id for paper_id in text_links if paper_id.startswith("2612.0"))
    with TestClient(create_app(site.web_services()), follow_redirects=False) as client:
        page = client.get(text_links[victim])
        assert page.status_code == 200 and "Not interested</button>" in page.text
        assert site.recommendation_store().signals_of(user_id)[-1][0] != victim  # a GET changes nothing
        token = text_links[victim].split("token=", 1)[1]
        pressed = client.post(f"/api/v1/not-interested?token={token}", headers={"Accept": "text/html"})
        assert pressed.status_code == 303
    assert (victim, SignalKind.NOT_INTERESTED) in site.recommendation_store().signals_of(user_id)
    site.recommendations().refit(user_id)
    assert victim not in [item.paper.paper_id for item in site.recommendations().recommend(user_id, 50).items]


def title_of(site: Papercast, paper_id: str) -> str:
    return site.papers.get_many([paper_id], history=False)[paper_id].title
