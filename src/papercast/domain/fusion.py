"""Combining keyword and semantic rankings into one: score fusion, rank fusion, pinning.

Pure functions over (paper id, score) lists. The hybrid search uses `convex_fusion`: BM25 and
cosine scores are turned into z-scores over the candidate set and mixed with a fixed weight,
so how far a paper stands out in each list counts, not only its position.
`reciprocal_rank_fusion` is kept for callers that only have rankings.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

Ranked = list[tuple[str, float]]

# Cosine floors for papers found by meaning alone, measured with `bench/similarity_floor.py` on
# the demo dev set, Cranfield and CISI (`docs/architecture.md`, Search): the highest floors at
# which no nDCG@10 moved in any mode. MiniLM: judged queries' nearest papers sit at 0.32 and up,
# nonsense words' nearest at 0.10-0.27 (dev, Cranfield; up to 0.34 on CISI). TF-IDF gives a word
# it has never seen exactly 0.
MINILM_SIMILARITY_FLOOR = 0.25
LEXICAL_SIMILARITY_FLOOR = 0.1


@dataclass(frozen=True)
class FusionWeights:
    """How the hybrid search mixes its two retrievers.

    Chosen on the demo dev set, Cranfield and CISI together (nDCG@10, the best region was flat
    around these values): keyword weight 0.25 on z-scores over the top 100 of each retriever,
    then one round of pseudo-relevance feedback that moves the query vector 0.4 of the way
    towards the mean vector of the 3 best fused papers.
    """

    keyword_weight: float = 0.25
    candidates: int = 100
    feedback_papers: int = 3
    feedback_weight: float = 0.4
    rrf_k: int = 60
    # A paper found by meaning alone (no keyword match) is a result only when its cosine with the
    # query reaches this floor: nearest neighbours always exist, close ones need not.
    similarity_floor: float = MINILM_SIMILARITY_FLOOR

    def __post_init__(self) -> None:
        if not 0.0 <= self.keyword_weight <= 1.0:
            raise ValueError("keyword_weight must be between 0 and 1")
        if not -1.0 <= self.similarity_floor <= 1.0:
            raise ValueError("similarity_floor must be a cosine, between -1 and 1")
        if self.candidates < 1 or self.feedback_papers < 0 or self.feedback_weight < 0 or self.rrf_k < 0:
            raise ValueError("fusion sizes and weights must not be negative")


# Encoders that only see words (TF-IDF + SVD, feature hashing) mostly repeat what BM25 knows, so
# BM25 keeps more weight. Measured with the TF-IDF fallback on the dev set, Cranfield and CISI:
# keyword weight 0.6 with feedback 0.3 beat both retrievers on all three; 0.25 lost 0.025 on dev.
LEXICAL_ENCODER_WEIGHTS = FusionWeights(keyword_weight=0.6, feedback_weight=0.3,
                                        similarity_floor=LEXICAL_SIMILARITY_FLOOR)
LEXICAL_ENCODER_PREFIXES = ("tfidf", "hashing")


def weights_for_encoder(model_id: str) -> FusionWeights:
    """The fusion weights measured for the encoder family that `model_id` names."""
    if model_id.startswith(LEXICAL_ENCODER_PREFIXES):
        return LEXICAL_ENCODER_WEIGHTS
    return FusionWeights()


def z_scores(scores: Mapping[str, float]) -> dict[str, float]:
    """Each score as standard deviations from the mean of `scores` (all 0 when they do not vary)."""
    if not scores:
        return {}
    values = list(scores.values())
    mean = math.fsum(values) / len(values)
    spread = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / len(values))
    if spread == 0:
        return dict.fromkeys(scores, 0.0)
    return {paper_id: (score - mean) / spread for paper_id, score in scores.items()}


def min_max(scores: Mapping[str, float]) -> dict[str, float]:
    """Scores rescaled to 0..1 (all 1 when they do not vary)."""
    if not scores:
        return {}
    low, high = min(scores.values()), max(scores.values())
    if high == low:
        return dict.fromkeys(scores, 1.0)
    return {paper_id: (score - low) / (high - low) for paper_id, score in scores.items()}


def convex_fusion(keyword: Sequence[tuple[str, float]], vector: Mapping[str, float],
                  keyword_weight: float, keyword_complete: bool = False) -> Ranked:
    """Mix z-scored BM25 and cosine scores: w * z(bm25) + (1 - w) * z(cosine), best first.

    `keyword` holds the BM25 candidates, `vector` the cosine of every candidate of either list
    (so a keyword hit the vector search did not return still gets its semantic score). A
    candidate missing from a cut-off keyword list gets the lowest keyword z-score seen; when
    `keyword_complete` says the list holds every keyword match, the others score 0 in BM25
    (so one lone keyword match still stands out).
    """
    candidates = dict.fromkeys([paper_id for paper_id, _ in keyword] + list(vector))
    keyword_scores = dict(keyword)
    if keyword_complete:
        keyword_scores = {paper_id: keyword_scores.get(paper_id, 0.0) for paper_id in candidates}
    keyword_z = z_scores(keyword_scores)
    vector_z = z_scores(vector)
    floor = min(keyword_z.values(), default=0.0)
    fused = {
        paper_id: keyword_weight * keyword_z.get(paper_id, floor)
        + (1.0 - keyword_weight) * vector_z.get(paper_id, 0.0)
        for paper_id in candidates
    }
    return best_first(fused)


def reciprocal_rank_fusion(rankings: Sequence[Sequence[str]], weights: Sequence[float] | None = None,
                           k: int = 60) -> Ranked:
    """Reciprocal rank fusion: each ranking adds weight / (k + rank) to the papers in it (rank from 1)."""
    weights = list(weights) if weights is not None else [1.0] * len(rankings)
    if len(weights) != len(rankings):
        raise ValueError("one weight per ranking")
    fused: dict[str, float] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        for rank, paper_id in enumerate(dict.fromkeys(ranking), start=1):
            fused[paper_id] = fused.get(paper_id, 0.0) + weight / (k + rank)
    return best_first(fused)


def pin_first(ranked: Sequence[tuple[str, float]], pinned: Iterable[str]) -> Ranked:
    """`ranked` with the `pinned` ids (exact id or title matches) moved to the front, in their order.

    Pinned papers get scores above every other score, so the list stays sorted by score.
    """
    pinned = list(dict.fromkeys(pinned))
    if not pinned:
        return list(ranked)
    top = max((score for _, score in ranked), default=0.0)
    front = [(paper_id, top + len(pinned) - position) for position, paper_id in enumerate(pinned)]
    chosen = set(pinned)
    return front + [(paper_id, score) for paper_id, score in ranked if paper_id not in chosen]


def best_first(scores: Mapping[str, float]) -> Ranked:
    """Scores sorted best first; ties broken by id so that results are stable."""
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))
