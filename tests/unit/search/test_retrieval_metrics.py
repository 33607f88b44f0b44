"""nDCG@k, MRR@k and Recall@k against hand-computed values."""

from __future__ import annotations

import math

import pytest

from papercast.domain.evaluation import evaluate, gain_of, ndcg_at, recall_at, reciprocal_rank_at

JUDGED = {"a": 2, "b": 1, "c": 1}


def test_ndcg_with_exponential_and_linear_gains() -> None:
    ranking = ["x", "a", "b"]
    dcg_exp = 3 / math.log2(3) + 1 / math.log2(4)
    ideal_exp = 3 / math.log2(2) + 1 / math.log2(3) + 1 / math.log2(4)
    assert ndcg_at(ranking, JUDGED, 10) == pytest.approx(dcg_exp / ideal_exp)
    dcg_lin = 2 / math.log2(3) + 1 / math.log2(4)
    ideal_lin = 2 + 1 / math.log2(3) + 1 / math.log2(4)
    assert ndcg_at(ranking, JUDGED, 10, gains="linear") == pytest.approx(dcg_lin / ideal_lin)
    assert ndcg_at(["a", "b", "c"], JUDGED) == pytest.approx(1.0)
    assert ndcg_at([], JUDGED) == 0.0
    assert ndcg_at(["a"], {}) == 0.0


def test_cut_off_duplicates_and_non_relevant_grades() -> None:
    assert ndcg_at(["x", "a"], JUDGED, k=1) == 0.0
    assert ndcg_at(["a", "a", "b", "c"], JUDGED) == pytest.approx(1.0)  # a listed twice counts once
    assert ndcg_at(["n"], {"n": 0, "m": -1, "a": 1}) == 0.0
    assert gain_of(-1) == 0.0 and gain_of(2) == 3.0 and gain_of(2, "linear") == 2.0
    with pytest.raises(ValueError):
        gain_of(1, "cubic")


def test_reciprocal_rank_and_recall() -> None:
    assert reciprocal_rank_at(["x", "y", "b"], JUDGED) == pytest.approx(1 / 3)
    assert reciprocal_rank_at(["x", "y", "b"], JUDGED, k=2) == 0.0
    assert recall_at(["a", "x", "c"], JUDGED) == pytest.approx(2 / 3)
    assert recall_at(["a", "x", "c"], JUDGED, k=1) == pytest.approx(1 / 3)


def test_evaluate_averages_and_skips_unjudged_queries() -> None:
    report = evaluate([(["a", "b", "c"], JUDGED), (["x"], {"y": 1}), (["z"], {})], k=10)
    assert report.queries == 2
    assert report.ndcg == pytest.approx(0.5)
    assert report.mrr == pytest.approx(0.5)
    assert report.recall == pytest.approx(0.5)
    assert report.as_dict() == {"queries": 2, "ndcg@10": 0.5, "mrr@10": 0.5, "recall@10": 0.5}
    assert evaluate([]).queries == 0
