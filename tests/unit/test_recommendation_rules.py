"""Rules of recommendations: simulated readers, hit rate and MRR, the recency blend, reasons,
the seed parser (arXiv ids, BibTeX; never an exception on any text), the refit job's key, and
the per-reader model ranking what a reader liked above what they did not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from papercast.domain.recommendations import (
    Reason,
    RecencyBlend,
    SignalKind,
    hit_report,
    simulated_readers,
    strongest_kind,
)
from papercast.domain.seeding import parse_seed
from papercast.recommend.model import fit_reader
from papercast.storage.recommendations import refit_key

NOW = datetime(2026, 12, 3, 12, tzinfo=UTC)


def test_each_relevant_paper_of_a_query_with_three_or_more_is_held_out_once() -> None:
    readers = simulated_readers([("q1", {"a": 2, "b": 1, "c": 1, "d": 0}), ("q2", {"x": 1, "y": 1})])
    assert [(r.held_out, r.liked) for r in readers] == [
        ("a", ("b", "c")), ("b", ("a", "c")), ("c", ("a", "b"))]
    assert simulated_readers([("q1", {"a": 1, "b": 1, "c": 1})], known={"a", "b"}) == []


def test_hit_rate_and_mrr_count_the_held_out_paper_within_k() -> None:
    report = hit_report([(["x", "a"], "a"), (["a"], "a"), (["x"] * 10 + ["a"], "a")], k=10)
    assert (report.readers, round(report.hit_rate, 4), round(report.mrr, 4)) == (3, 0.6667, 0.5)
    assert report.as_dict() == {"hit@10": 0.6667, "mrr@10": 0.5, "readers": 3}


def test_recency_halves_each_half_life_and_never_grows_for_the_future() -> None:
    blend = RecencyBlend(weight=1.0, half_life_days=7)
    assert blend.freshness(NOW, NOW) == 1.0
    assert blend.freshness(NOW - timedelta(days=14), NOW) == 0.25
    assert blend.freshness(NOW + timedelta(days=3), NOW) == 1.0
    assert blend.score(2.0, NOW - timedelta(days=7), NOW) == 2.5


def test_a_reason_names_the_strongest_signal() -> None:
    assert strongest_kind([SignalKind.SEED, SignalKind.UPVOTE, SignalKind.SAVE]) is SignalKind.SAVE
    assert strongest_kind([SignalKind.NOT_INTERESTED]) is None
    assert Reason("p", "Deep Sets", SignalKind.UPVOTE, 0.9).text == "because you upvoted Deep Sets"
    assert Reason("p", "Deep Sets", None, 0.9).text == "close to Deep Sets"


def test_seeds_from_ids_and_bibtex_name_their_lines() -> None:
    entries, problems = parse_seed("arXiv:2401.01234v2, hep-th/9901001\n\nnope")
    assert [e.paper_id for e in entries] == ["2401.01234", "hep-th/9901001"]
    assert [(p.where, p.reason) for p in problems] == [("line 3", "'nope' is not an arXiv id")]
    bibtex = ('@string{x = "y"}\n@Article{k1,\n  title = {A {Nested} Title},\n  doi = {10.1000/ABC}\n}\n'
              '@misc{k2, url = "https://arxiv.org/pdf/2401.00002v1.pdf", title="T"}\n'
              '@misc(k3, author = {Nobody})\n@misc{k4, title = {never closed}\n')
    entries, problems = parse_seed(bibtex)
    assert [(e.where, e.paper_id, e.doi, e.title) for e in entries] == [
        ("line 2", None, "10.1000/ABC", "A Nested Title"), ("line 6", "2401.00002", None, "T")]
    assert [(p.where, p.reason) for p in problems] == [
        ("line 7", "no eprint, arXiv url, doi or title"), ("line 8", "the entry's braces never close")]


@given(st.text(max_size=400))
def test_any_text_is_read_without_an_exception(text: str) -> None:
    entries, problems = parse_seed(text)
    assert all(entry.paper_id or entry.doi or entry.title for entry in entries)
    assert all(problem.where.startswith("line ") for problem in problems)


def test_a_burst_shares_one_refit_key_and_runs_when_its_period_ends() -> None:
    first, run_at = refit_key(7, NOW, 30)
    assert refit_key(7, NOW + timedelta(seconds=29), 30)[0] == first
    assert refit_key(7, NOW + timedelta(seconds=30), 30)[0] != first
    assert refit_key(8, NOW, 30)[0] != first
    assert run_at == NOW + timedelta(seconds=30)


def test_the_model_ranks_papers_like_the_liked_ones_above_those_like_the_disliked_ones() -> None:
    rng = np.random.default_rng(1)
    topics = rng.standard_normal((3, 32))
    def around(topic: int, count: int) -> np.ndarray:
        rows = topics[topic] + 0.3 * rng.standard_normal((count, 32))
        return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)
    background = np.vstack([around(topic, 40) for topic in range(3)])
    model = fit_reader(around(0, 5), around(1, 3), background)
    liked_like, disliked_like, other = around(0, 20) @ model.weights, around(1, 20) @ model.weights, \
        around(2, 20) @ model.weights
    assert liked_like.min() > other.max() and other.mean() > disliked_like.mean()
