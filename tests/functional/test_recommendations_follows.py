"""Followed categories and saved searches (the topics of the subscription linked to a reader's
account) as signals of recommendations, on SQLite and PostgreSQL: a reader who only follows a
topic gets a fitted model that ranks it first; a change of topics queues the reader's refit as
a vote does; the cold start lists trending papers in the followed topics first, then the topics'
newest papers, then everything else, never an empty page."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from papercast.bootstrap import Papercast
from papercast.domain.subscriptions import Frequency, Preferences
from papercast.domain.trending import Mark
from papercast.services.subscriptions import ByAccount
from papercast.worker.tasks import build_worker
from support.clock import ManualClock
from support.recommendations import paper, recommendation_site

ANN = "ann@example.org"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def site(database_url: str, tmp_path: Path, clock: ManualClock) -> Iterator[Papercast]:
    with recommendation_site(database_url, tmp_path, clock, indexed=True) as papercast:
        yield papercast


def follower(site: Papercast, *topics: str, email: str = ANN) -> int:
    user_id = site.accounts().add_user(email).id
    site.subscriptions().subscribe_reader(user_id, email, Preferences(topics, Frequency.DAILY, 8, "UTC"))
    return user_id


def signal_version(site: Papercast, user_id: int) -> int:
    stored = site.recommendation_store().model_of(user_id)
    return 0 if stored is None else stored.signal_version


def refit_jobs(site: Papercast) -> int:
    return len(site.jobs.list(kinds=["refit-recommendations"], limit=100))


@pytest.mark.parametrize("topic", ["protein folding", "cat:q-bio.BM"])
def test_a_reader_who_only_follows_a_topic_gets_a_model_that_ranks_it_first(
        site: Papercast, clock: ManualClock, topic: str) -> None:
    user_id = follower(site, topic)
    assert refit_jobs(site) == 1
    clock.advance(60)
    build_worker(site, interval=0.01).run_once()
    stored = site.recommendation_store().model_of(user_id)
    assert stored is not None and stored.current and stored.weights is not None
    assert stored.positives == 8  # the topic's eight papers, weak positives
    result = site.recommendations().recommend(user_id, 8)
    assert not result.cold
    assert [item.paper.paper_id[:6] for item in result.items] == ["2612.1"] * 8


def test_liked_papers_outweigh_a_followed_topic(site: Papercast) -> None:
    user_id = follower(site, "cat:q-bio.BM")
    for number in (1, 2, 3):
        site.votes().mark(user_id, paper("galaxy", number), Mark.SAVE, True, "192.0.2.1")
    assert site.recommendations().refit(user_id).positives == 3 + 8
    scores = {item.paper.paper_id: item.score for item in site.recommendations().recommend(user_id, 13).items}
    galaxy = [scores[paper("galaxy", number)] for number in range(4, 9)]
    protein = [scores[paper("protein", number)] for number in range(1, 9)]
    assert sum(galaxy) / len(galaxy) > sum(protein) / len(protein)
    assert sorted(scores, key=scores.__getitem__)[-1].startswith("2612.2")


def test_a_change_of_topics_queues_the_readers_refit_and_nothing_else_does(site: Papercast) -> None:
    subscriptions = site.subscriptions()
    user_id = follower(site, "protein folding")
    assert signal_version(site, user_id) == 1
    same_topics = Preferences(("protein folding",), Frequency.WEEKLY, 9, "UTC")
    subscriptions.set_preferences(ByAccount(user_id), same_topics)
    subscriptions.pause(ByAccount(user_id))
    assert signal_version(site, user_id) == 1
    other_topics = Preferences(("cat:astro-ph.GA",), Frequency.DAILY, 8, "UTC")
    subscriptions.set_preferences(ByAccount(user_id), other_topics)
    assert signal_version(site, user_id) == 2
    subscriptions.remove(ANN)  # the topics go with the address
    assert signal_version(site, user_id) == 3
    assert site.recommendation_store().topics_of(user_id) == []


def test_a_subscriber_without_an_account_changes_no_model(site: Papercast) -> None:
    site.subscriptions().import_subscribers([])
    before = refit_jobs(site)
    user_id = site.accounts().add_user(ANN).id
    site.subscriptions().request("bob@example.org", Preferences(("protein folding",)), "192.0.2.9")
    assert refit_jobs(site) == before and signal_version(site, user_id) == 0


def test_the_cold_start_lists_trending_in_followed_topics_then_their_newest_then_the_rest(
        site: Papercast) -> None:
    voter = site.accounts().add_user("voter@example.org").id
    trending = [paper("graph", 1), paper("galaxy", 5), paper("graph", 2), paper("galaxy", 7)]
    for paper_id in trending:
        site.votes().mark(voter, paper_id, Mark.UPVOTE, True, "192.0.2.1")
    user_id = follower(site, "cat:astro-ph.GA")
    result = site.recommendations().recommend(user_id, 12)
    assert result.cold and len(result.items) == 12
    ids = [item.paper.paper_id for item in result.items]
    assert set(ids[:2]) == {paper("galaxy", 5), paper("galaxy", 7)}  # trending in the category
    assert ids[2:8] == [paper("galaxy", number) for number in (1, 2, 3, 4, 6, 8)]  # newest first
    assert set(ids[8:10]) == {paper("graph", 1), paper("graph", 2)}  # then trending anywhere


def test_the_cold_start_is_never_empty_when_a_topic_matches_nothing(site: Papercast) -> None:
    user_id = follower(site, "quantum chromodynamics lattice")
    result = site.recommendations().recommend(user_id, 10)
    assert result.cold and len(result.items) == 10
