"""Rank and score fusion: z-scores, convex fusion, reciprocal rank fusion and pinning."""

from __future__ import annotations

import math

import pytest

from papercast.domain.fusion import (
    FusionWeights,
    best_first,
    convex_fusion,
    min_max,
    pin_first,
    reciprocal_rank_fusion,
    weights_for_encoder,
    z_scores,
)


def test_z_scores_and_min_max() -> None:
    z = z_scores({"a": 1.0, "b": 2.0, "c": 3.0})
    spread = math.sqrt(2 / 3)
    assert z == pytest.approx({"a": -1 / spread, "b": 0.0, "c": 1 / spread})
    assert z_scores({"a": 5.0, "b": 5.0}) == {"a": 0.0, "b": 0.0}
    assert z_scores({}) == {}
    assert min_max({"a": 2.0, "b": 4.0, "c": 3.0}) == {"a": 0.0, "b": 1.0, "c": 0.5}
    assert min_max({"a": 7.0}) == {"a": 1.0}


def test_rrf_sums_weighted_reciprocal_ranks() -> None:
    fused = dict(reciprocal_rank_fusion([["a", "b", "c"], ["b", "d"]], k=60))
    assert fused["a"] == pytest.approx(1 / 61)
    assert fused["b"] == pytest.approx(1 / 62 + 1 / 61)
    assert fused["c"] == pytest.approx(1 / 63)
    assert fused["d"] == pytest.approx(1 / 62)
    ranked = reciprocal_rank_fusion([["a", "b", "c"], ["b", "d"]])
    assert [paper_id for paper_id, _ in ranked][:2] == ["b", "a"]


def test_rrf_weights_and_duplicate_entries() -> None:
    fused = dict(reciprocal_rank_fusion([["a", "a", "b"], ["b"]], weights=[2.0, 0.5], k=0))
    assert fused == pytest.approx({"a": 2.0, "b": 2.0 / 2 + 0.5})
    with pytest.raises(ValueError):
        reciprocal_rank_fusion([["a"]], weights=[1.0, 2.0])


def test_convex_fusion_mixes_z_scores_and_floors_missing_keyword_scores() -> None:
    keyword = [("a", 10.0), ("b", 6.0), ("c", 2.0)]
    vector = {"a": 0.2, "b": 0.8, "c": 0.5, "d": 0.5}
    fused = dict(convex_fusion(keyword, vector, keyword_weight=0.5))
    kz, vz = z_scores(dict(keyword)), z_scores(vector)
    assert fused["a"] == pytest.approx(0.5 * kz["a"] + 0.5 * vz["a"])
    assert fused["d"] == pytest.approx(0.5 * kz["c"] + 0.5 * vz["d"])  # missing: lowest keyword z
    assert set(fused) == {"a", "b", "c", "d"}


def test_a_complete_keyword_list_scores_the_others_zero() -> None:
    keyword = [("a", 4.0)]  # the only keyword match
    vector = {"a": 0.5, "b": 0.6, "c": 0.1}
    assert [p for p, _ in convex_fusion(keyword, vector, 0.5)][0] == "b"  # one score: no spread
    fused = convex_fusion(keyword, vector, 0.5, keyword_complete=True)
    kz = z_scores({"a": 4.0, "b": 0.0, "c": 0.0})
    assert fused[0] == ("a", pytest.approx(0.5 * kz["a"] + 0.5 * z_scores(vector)["a"]))


def test_convex_fusion_extremes_follow_one_retriever() -> None:
    keyword = [("a", 3.0), ("b", 2.0), ("c", 1.0)]
    vector = {"a": 0.1, "b": 0.2, "c": 0.9}
    assert [p for p, _ in convex_fusion(keyword, vector, 1.0)] == ["a", "b", "c"]
    assert [p for p, _ in convex_fusion(keyword, vector, 0.0)] == ["c", "b", "a"]
    assert convex_fusion([], {}, 0.5) == []


def test_pinned_papers_come_first_in_order_and_scores_stay_sorted() -> None:
    ranked = [("a", 3.0), ("b", 2.0), ("c", 1.0)]
    pinned = pin_first(ranked, ["c", "x", "c"])
    assert [p for p, _ in pinned] == ["c", "x", "a", "b"]
    scores = [s for _, s in pinned]
    assert scores == sorted(scores, reverse=True)
    assert pin_first(ranked, []) == ranked


def test_best_first_breaks_ties_by_id() -> None:
    assert best_first({"b": 1.0, "a": 1.0, "c": 2.0}) == [("c", 2.0), ("a", 1.0), ("b", 1.0)]


def test_fusion_weights_are_checked() -> None:
    with pytest.raises(ValueError):
        FusionWeights(keyword_weight=1.5)
    with pytest.raises(ValueError):
        FusionWeights(candidates=0)


def test_lexical_encoders_leave_more_weight_to_bm25() -> None:
    assert weights_for_encoder("all-MiniLM-L6-v2@53aa5117") == FusionWeights()
    assert weights_for_encoder("tfidf-svd-256@abcd").keyword_weight > FusionWeights().keyword_weight
    assert weights_for_encoder("hashing-256@v1") == weights_for_encoder("tfidf-svd-8@x")
