"""The offline evaluation of recommendations (`recommend/offline.py`): liked papers are never
ranked, the model is averaged over its draws of negatives, the baselines are what they say."""

from __future__ import annotations

import numpy as np
import pytest

from papercast.domain.recommendations import simulated_readers
from papercast.recommend.offline import Catalog, evaluate_recommenders

CLUSTERS = 6
PER_CLUSTER = 12  # > k: a recommender that ranked the 11 liked papers would push the 12th out


Judged = list[tuple[str, dict[str, float]]]


def clustered_catalog(noise_papers: int = 300, seed: int = 7) -> tuple[Catalog, Judged]:
    """Tight clusters of judged papers in 48 dimensions, among unrelated papers; one query a cluster."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(CLUSTERS, 48))
    rows, ids, judged = [], [], []
    for cluster, centre in enumerate(centres):
        relevant = {}
        for paper in range(PER_CLUSTER):
            ids.append(f"c{cluster}-{paper}")
            rows.append(centre + 0.15 * rng.normal(size=48))
            relevant[ids[-1]] = 1.0
        judged.append((f"q{cluster}", relevant))
    for paper in range(noise_papers):
        ids.append(f"n{paper}")
        rows.append(rng.normal(size=48))
    vectors = np.array(rows, dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    points = {f"n{paper}": float(paper) for paper in range(20)}  # popular papers nobody judged
    return Catalog(ids, vectors, points), judged


def test_clustered_readers_find_their_held_out_paper_and_popularity_does_not() -> None:
    catalog, judged = clustered_catalog()
    readers = simulated_readers(judged, known=set(catalog.ids))
    reports = evaluate_recommenders(catalog, readers, k=10)
    assert {report.readers for report in reports.values()} == {CLUSTERS * PER_CLUSTER}
    assert reports["model"].hit_rate == 1.0 and reports["nearest"].hit_rate == 1.0
    assert reports["popularity"].hit_rate == 0.0  # its points are on papers nobody judged


def test_the_model_is_the_mean_over_its_draws_and_the_same_for_the_same_seed() -> None:
    catalog, judged = clustered_catalog(noise_papers=40, seed=3)  # small: draws take most of it
    readers = simulated_readers(judged, known=set(catalog.ids))
    one = evaluate_recommenders(catalog, readers, k=3, draws=1)
    three = evaluate_recommenders(catalog, readers, k=3, draws=3)
    assert three == evaluate_recommenders(catalog, readers, k=3, draws=3)
    assert three["model"].readers == len(readers)
    hits = three["model"].hit_rate * len(readers) * 3
    assert abs(hits - round(hits)) < 1e-9  # a mean over readers × draws rankings
    # the baselines draw nothing
    assert three["nearest"] == one["nearest"] and three["popularity"] == one["popularity"]
    with pytest.raises(ValueError, match="draw"):
        evaluate_recommenders(catalog, readers, draws=0)
