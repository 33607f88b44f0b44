"""Recommendations end to end on SQLite and PostgreSQL, through the services and the worker's job:
the reason shown is true, "not interested" removes a paper and lowers its nearest neighbours, a
disabled account gets no refit, bursts of signals make one refit job, the cold start is never
empty, and seeding from arXiv ids and BibTeX uses the good entries and reports the rest."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from papercast.bootstrap import Papercast, build
from papercast.domain.accounts import UserState
from papercast.domain.recommendations import SignalKind
from papercast.domain.trending import Mark
from papercast.settings import Settings
from papercast.worker.tasks import build_worker
from support.clock import ManualClock
from support.recommendations import paper, recommendation_site, topic_records


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def site(database_url: str, tmp_path: Path, clock: ManualClock) -> Iterator[Papercast]:
    with recommendation_site(database_url, tmp_path, clock) as papercast:
        yield papercast


def reader(site: Papercast, email: str = "ann@example.org") -> int:
    return site.accounts().add_user(email).id


def like(site: Papercast, user_id: int, paper_ids: list[str], mark: Mark = Mark.SAVE) -> None:
    for paper_id in paper_ids:
        site.votes().mark(user_id, paper_id, mark, True, "192.0.2.1")


def scores(site: Papercast, user_id: int) -> dict[str, float]:
    return {item.paper.paper_id: item.score for item in site.recommendations().recommend(user_id, 100).items}


def test_the_reason_names_the_liked_paper_nearest_to_each_recommendation(site: Papercast) -> None:
    user_id = reader(site)
    like(site, user_id, [paper("graph", 1), paper("graph", 2)], Mark.SAVE)
    like(site, user_id, [paper("protein", 1)], Mark.UPVOTE)
    assert site.recommendations().refit(user_id).fitted
    result = site.recommendations().recommend(user_id, 10)
    assert not result.cold and result.items
    liked = {paper("graph", 1): SignalKind.SAVE, paper("graph", 2): SignalKind.SAVE,
             paper("protein", 1): SignalKind.UPVOTE}
    model_id = site.embedding_model_id()
    assert model_id is not None
    store = site.recommendation_store()
    liked_ids, liked_vectors = store.vectors_of(model_id, list(liked))
    for item in result.items:
        assert item.paper.paper_id not in liked
        assert item.reason is not None
        assert item.reason.kind is liked[item.reason.paper_id]
        verb = "saved" if item.reason.kind is SignalKind.SAVE else "upvoted"
        assert item.reason.text.startswith(f"because you {verb} ")
        _, vector = store.vectors_of(model_id, [item.paper.paper_id])
        nearest = liked_ids[int(np.argmax(liked_vectors @ vector[0]))]
        assert item.reason.paper_id == nearest


def test_not_interested_removes_a_paper_and_lowers_its_nearest_neighbours(site: Papercast) -> None:
    user_id = reader(site)
    like(site, user_id, [paper("graph", 1), paper("graph", 2), paper("protein", 1)])
    service = site.recommendations()
    service.refit(user_id)
    before = scores(site, user_id)
    hidden = paper("protein", 2)
    assert hidden in before
    service.not_interested(user_id, hidden)
    assert hidden not in scores(site, user_id)  # at once, before any refit
    assert service.refit(user_id).fitted
    after = scores(site, user_id)
    assert hidden not in after
    neighbours = [paper("protein", number) for number in range(3, 9)]
    assert all(after[neighbour] < before[neighbour] for neighbour in neighbours)
    others = [paper("graph", number) for number in range(3, 9)]
    lowered = np.mean([before[p] - after[p] for p in neighbours])
    assert lowered > np.mean([before[p] - after[p] for p in others])


def test_a_disabled_account_gets_no_refit(site: Papercast, clock: ManualClock) -> None:
    user_id = reader(site)
    like(site, user_id, [paper("graph", 1)])
    site.accounts().set_state("ann@example.org", UserState.DISABLED)
    clock.advance(60)
    worker = build_worker(site, interval=0.01)
    worker.run_once()
    stored = site.recommendation_store().model_of(user_id)
    assert stored is not None and stored.fitted_version is None and stored.weights is None
    report = site.recommendations().refit(user_id)
    assert not report.fitted and report.skipped == "account disabled"


def test_a_burst_of_signals_makes_one_refit_job_that_the_worker_runs(site: Papercast,
                                                                     clock: ManualClock) -> None:
    user_id = reader(site)
    like(site, user_id, [paper("graph", number) for number in range(1, 5)])
    jobs = [job for job in site.jobs.list(kinds=["refit-recommendations"], limit=10)]
    assert len(jobs) == 1 and jobs[0].payload == {"user_id": user_id}
    clock.advance(60)
    build_worker(site, interval=0.01).run_once()
    stored = site.recommendation_store().model_of(user_id)
    assert stored is not None and stored.current and stored.weights is not None
    assert stored.positives == 4


def test_the_cold_start_is_trending_and_never_empty(site: Papercast) -> None:
    user_id = reader(site)
    result = site.recommendations().recommend(user_id, 5)
    assert result.cold and len(result.items) == 5
    assert all(item.reason is None for item in result.items)


def test_seeding_uses_ids_and_bibtex_entries_and_reports_the_rest(site: Papercast) -> None:
    user_id = reader(site)
    service = site.recommendations()
    ids = f"arXiv:{paper('galaxy', 1)}v2  https://arxiv.org/abs/{paper('galaxy', 2)}\nnot-an-id 9999.99999"
    report = service.seed(user_id, ids)
    assert report.used == (paper("galaxy", 1), paper("galaxy", 2))
    assert [problem.where for problem in report.problems] == ["line 2", "line 2"]
    bibtex = ("@article{a, title = {Whatever}, eprint = {" + paper("galaxy", 3) + "}}\n"
              "@misc{b, title = {Galaxy study 4}}\n"
              "@book{c, author = {Nobody}}\n"
              "@misc{d, title = {A paper nobody stored}}\n")
    report = service.seed(user_id, bibtex)
    assert report.used == (paper("galaxy", 3), paper("galaxy", 4))
    problems = [(problem.where, problem.reason.split(" ")[0]) for problem in report.problems]
    assert problems == [("line 3", "no"), ("line 4", "'A")]
    assert service.refit(user_id).positives == 4
    top = service.recommend(user_id, 3).items
    assert all(item.paper.paper_id.startswith("2612.2") for item in top)


def test_the_cold_start_lists_the_newest_papers_when_none_has_points_or_a_vector(
        database_url: str, tmp_path: Path, clock: ManualClock) -> None:
    settings = Settings.load(env={}, data_dir=tmp_path, database_url=database_url, embedding_model="hashing")
    papercast = build(settings, clock)
    try:
        papercast.ingest.ingest(topic_records(clock.now().date())[:3])
        user_id = reader(papercast)
        result = papercast.recommendations().recommend(user_id, 10)
        assert result.cold and len(result.items) == 3
    finally:
        papercast.close()
