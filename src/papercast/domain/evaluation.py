"""Retrieval quality metrics over graded relevance judgments: nDCG@k, MRR@k and Recall@k.

Pure functions. A judgment set maps paper ids to grades (higher is more relevant, 0 or less is
not relevant); a ranking is a sequence of paper ids, best first. nDCG uses exponential gains
(2^grade - 1, Burges et al. 2005) unless asked for linear ones (grade, as trec_eval does); with
binary judgments the two agree.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

Judgments = Mapping[str, float]
GAINS = ("exponential", "linear")


def gain_of(grade: float, gains: str = "exponential") -> float:
    """What finding a paper of `grade` is worth: 2^grade - 1, or the grade itself."""
    if grade <= 0:
        return 0.0
    if gains == "exponential":
        return float(2.0 ** grade) - 1.0
    if gains == "linear":
        return float(grade)
    raise ValueError(f"unknown gains {gains!r}; use one of {', '.join(GAINS)}")


def dcg_at(ranking: Sequence[str], judgments: Judgments, k: int, gains: str = "exponential") -> float:
    """Discounted cumulative gain: sum of gain(grade) / log2(rank + 1) over the top k."""
    return sum(gain_of(judgments.get(paper_id, 0.0), gains) / math.log2(rank + 1)
               for rank, paper_id in enumerate(_dedup(ranking)[:k], start=1))


def ndcg_at(ranking: Sequence[str], judgments: Judgments, k: int = 10, gains: str = "exponential") -> float:
    """nDCG@k: DCG of the ranking over DCG of the ideal ranking; 0 when nothing is relevant."""
    ideal_grades = sorted((g for g in judgments.values() if g > 0), reverse=True)[:k]
    ideal = sum(gain_of(grade, gains) / math.log2(rank + 1)
                for rank, grade in enumerate(ideal_grades, start=1))
    if ideal == 0:
        return 0.0
    return dcg_at(ranking, judgments, k, gains) / ideal


def reciprocal_rank_at(ranking: Sequence[str], judgments: Judgments, k: int = 10) -> float:
    """1 / rank of the first relevant paper within the top k, else 0."""
    for rank, paper_id in enumerate(_dedup(ranking)[:k], start=1):
        if judgments.get(paper_id, 0.0) > 0:
            return 1.0 / rank
    return 0.0


def recall_at(ranking: Sequence[str], judgments: Judgments, k: int = 10) -> float:
    """Share of the relevant papers found in the top k; 0 when nothing is relevant."""
    relevant = {paper_id for paper_id, grade in judgments.items() if grade > 0}
    if not relevant:
        return 0.0
    return len(relevant.intersection(_dedup(ranking)[:k])) / len(relevant)


@dataclass(frozen=True)
class QualityReport:
    """Mean metrics over a set of queries."""

    queries: int
    ndcg: float
    mrr: float
    recall: float
    k: int = 10

    def as_dict(self) -> dict[str, float | int]:
        k = self.k
        return {"queries": self.queries, f"ndcg@{k}": round(self.ndcg, 4),
                f"mrr@{k}": round(self.mrr, 4), f"recall@{k}": round(self.recall, 4)}


def evaluate(runs: Iterable[tuple[Sequence[str], Judgments]], k: int = 10,
             gains: str = "exponential") -> QualityReport:
    """Mean nDCG@k, MRR@k and Recall@k over (ranking, judgments) pairs.

    Queries without any relevant paper are skipped: no ranking can score on them.
    """
    count, ndcg, mrr, recall = 0, 0.0, 0.0, 0.0
    for ranking, judgments in runs:
        if not any(grade > 0 for grade in judgments.values()):
            continue
        count += 1
        ndcg += ndcg_at(ranking, judgments, k, gains)
        mrr += reciprocal_rank_at(ranking, judgments, k)
        recall += recall_at(ranking, judgments, k)
    if count == 0:
        return QualityReport(0, 0.0, 0.0, 0.0, k)
    return QualityReport(count, ndcg / count, mrr / count, recall / count, k)


def _dedup(ranking: Sequence[str]) -> list[str]:
    """A paper listed twice counts once, at its best rank."""
    return list(dict.fromkeys(ranking))
