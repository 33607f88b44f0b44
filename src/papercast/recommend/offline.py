"""Offline evaluation of recommendations (`papercast eval-recs`): simulated readers scored by the
per-reader model, a popularity baseline and a nearest-neighbour baseline over the whole catalog.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from papercast.domain.recommendations import EVALUATION_DRAWS, HitReport, SimulatedReader, hit_report
from papercast.recommend.model import ModelParameters, fit_reader

RECOMMENDERS = ("model", "popularity", "nearest")


@dataclass(frozen=True)
class Catalog:
    """Unit paper vectors (one row per id) and each paper's stored popularity (trending points)."""

    ids: Sequence[str]
    vectors: np.ndarray
    points: Mapping[str, float]


def evaluate_recommenders(catalog: Catalog, readers: Sequence[SimulatedReader], k: int = 10,
                          parameters: ModelParameters | None = None, seed: int = 0,
                          draws: int = EVALUATION_DRAWS) -> dict[str, HitReport]:
    """Hit rate@k and MRR@k of each recommender; the papers a reader liked are never ranked.

    The model's negatives are a random sample of the catalog, so one reader's hit can depend on
    the draw (on a small catalog, whether the held-out paper itself was drawn as a negative):
    each reader's model is fitted `draws` times with independent samples and its rates are the
    mean over all of them, the model's expected rate rather than one draw's luck. The baselines
    draw nothing and are ranked once.

    Popularity is the catalog's stored points plus the likes of the simulated readers of *other*
    queries (judged sets without votes have no popularity of their own; the reader's own query's
    likes would tell the held-out paper away)."""
    if draws < 1:
        raise ValueError("at least one draw of negatives is needed")
    parameters = parameters or ModelParameters()
    row_of = {paper_id: row for row, paper_id in enumerate(catalog.ids)}
    popularity = _likes(catalog.ids, readers, row_of) + np.array(
        [float(catalog.points.get(paper_id, 0.0)) for paper_id in catalog.ids])
    by_query = {query_id: _likes(catalog.ids, [r for r in readers if r.query_id == query_id], row_of)
                for query_id in {reader.query_id for reader in readers}}
    rng = np.random.default_rng(seed)
    rankings: dict[str, list[tuple[list[str], str]]] = {name: [] for name in RECOMMENDERS}
    for reader in readers:
        liked = np.array([row_of[paper_id] for paper_id in reader.liked])
        candidates = np.setdiff1d(np.arange(len(catalog.ids)), liked)
        vectors = catalog.vectors
        scores = [("popularity", (popularity - by_query[reader.query_id])[candidates]),
                  ("nearest", vectors[candidates] @ vectors[liked].mean(axis=0))]
        for _ in range(draws):
            size = min(parameters.background, len(candidates))
            background = rng.choice(candidates, size=size, replace=False)
            model = fit_reader(vectors[liked], vectors[:0], vectors[background], parameters)
            scores.append(("model", vectors[candidates] @ model.weights))
        for name, score in scores:
            top = candidates[_top(score, k)]
            rankings[name].append(([catalog.ids[row] for row in top], reader.held_out))
    return {name: replace(hit_report(ranked, k), readers=len(readers)) for name, ranked in rankings.items()}


def _likes(ids: Sequence[str], readers: Sequence[SimulatedReader], row_of: Mapping[str, int]) -> np.ndarray:
    """How many of `readers` liked each paper, by catalog row."""
    likes = np.zeros(len(ids))
    for paper_id, count in Counter(paper_id for reader in readers for paper_id in reader.liked).items():
        likes[row_of[paper_id]] += count
    return likes


def _top(scores: np.ndarray, k: int) -> np.ndarray:
    """Positions of the k highest scores, best first; ties keep catalog order (stable)."""
    return np.argsort(-scores, kind="stable")[:k]
