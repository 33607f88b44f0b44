"""Rules of recommendations: the reader's signals and what each means to the model, the reason
shown beside a paper, the blend of the model's score with recency, and the offline evaluation's
simulated readers and metrics (hit rate@k, MRR@k).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class SignalKind(StrEnum):
    """What a reader did to a paper. Upvotes, saves and seeds are positives of the model;
    "not interested" is a negative and hides the paper from the reader's recommendations."""

    UPVOTE = "upvote"
    SAVE = "save"
    SEED = "seed"
    NOT_INTERESTED = "not_interested"

    @property
    def positive(self) -> bool:
        return self is not SignalKind.NOT_INTERESTED


# When one paper carries several positive signals, the reason names the strongest.
REASON_ORDER = (SignalKind.SAVE, SignalKind.UPVOTE, SignalKind.SEED)
REASON_VERBS = {SignalKind.SAVE: "saved", SignalKind.UPVOTE: "upvoted", SignalKind.SEED: "listed"}


@dataclass(frozen=True)
class Reason:
    """Why a paper is recommended: the liked paper nearest to it and how the reader liked it.
    `kind` is None for the cold start (trending) and for "more like these papers"."""

    paper_id: str
    title: str
    kind: SignalKind | None
    similarity: float

    @property
    def text(self) -> str:
        if self.kind is None:
            return f"close to {self.title}"
        return f"because you {REASON_VERBS[self.kind]} {self.title}"


def strongest_kind(kinds: Iterable[SignalKind]) -> SignalKind | None:
    """The positive signal a reason names for a paper with `kinds`; None when none is positive."""
    present = set(kinds)
    return next((kind for kind in REASON_ORDER if kind in present), None)


@dataclass(frozen=True)
class RecencyBlend:
    """`score = model + weight · 2^(-age_days / half_life_days)`. The model's score is in units of
    the spread of scores over other papers (see `recommend/model.py`), so `weight` 1 lets a paper
    announced today pass one that scores one spread higher but is a half-life or more older."""

    weight: float = 0.5
    half_life_days: float = 7.0

    def score(self, model_score: float, announced: datetime, now: datetime) -> float:
        return model_score + self.weight * self.freshness(announced, now)

    def freshness(self, announced: datetime, now: datetime) -> float:
        age_days = max((now - announced) / timedelta(days=1), 0.0)
        return math.pow(2.0, -age_days / self.half_life_days) if self.half_life_days > 0 else 0.0


@dataclass(frozen=True)
class SimulatedReader:
    """One offline-evaluation reader: likes every relevant paper of a query but one, which is
    held out and should come back in the reader's top k."""

    query_id: str
    liked: tuple[str, ...]
    held_out: str


MIN_RELEVANT = 3
# Samples of negatives each simulated reader's model is fitted with; its rates are their mean.
EVALUATION_DRAWS = 5


def simulated_readers(judged: Iterable[tuple[str, Mapping[str, float]]],
                      known: set[str] | None = None) -> list[SimulatedReader]:
    """For each query with at least `MIN_RELEVANT` relevant papers (in the catalog, when `known`
    is given) and each of them in turn, the reader who liked all the others."""
    readers = []
    for query_id, judgments in judged:
        relevant = sorted(paper_id for paper_id, grade in judgments.items()
                          if grade > 0 and (known is None or paper_id in known))
        if len(relevant) < MIN_RELEVANT:
            continue
        for held_out in relevant:
            liked = tuple(paper_id for paper_id in relevant if paper_id != held_out)
            readers.append(SimulatedReader(query_id, liked, held_out))
    return readers


@dataclass(frozen=True)
class HitReport:
    """Hit rate@k and MRR@k of one recommender over simulated readers."""

    readers: int
    hit_rate: float
    mrr: float
    k: int = 10

    def as_dict(self) -> dict[str, float | int]:
        return {f"hit@{self.k}": round(self.hit_rate, 4), f"mrr@{self.k}": round(self.mrr, 4),
                "readers": self.readers}


def hit_report(rankings: Sequence[tuple[Sequence[str], str]], k: int = 10) -> HitReport:
    """Mean hit rate and reciprocal rank of each held-out paper within its ranking's top k."""
    hits = reciprocal = 0.0
    for ranking, held_out in rankings:
        top = list(ranking[:k])
        if held_out in top:
            hits += 1
            reciprocal += 1.0 / (top.index(held_out) + 1)
    count = len(rankings)
    return HitReport(count, hits / count if count else 0.0, reciprocal / count if count else 0.0, k)
