"""The digest's personal section comes from recommendations: a subscribed reader whose model is
fitted gets the papers it ranks best, never ones the digest lists elsewhere; what a queued digest
showed is left out of that reader's later recommendations; a reader without a model gets none."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from papercast.bootstrap import Papercast, build
from papercast.domain.papers import PaperRecord
from papercast.domain.subscriptions import Frequency, Preferences
from papercast.domain.trending import Mark
from papercast.settings import Settings
from support.clock import ManualClock

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
