"""The per-reader linear model: L2-regularised logistic regression over paper vectors, folded
with the direction of the reader's liked papers into one weight vector, so scoring a catalog
is one matrix-vector product (see docs/architecture.md, "Recommendations").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

# Chosen on Cranfield and CISI, confirmed on the dev readers (docs/architecture.md).
DEFAULT_C = 3.0
DEFAULT_LINEAR_SHARE = 0.5
DEFAULT_BACKGROUND = 200
# A followed topic (saved search or category) weighs as much as one liked paper, spread over its
# matching papers; this many matches per topic at most (docs/architecture.md, "Recommendations").
DEFAULT_TOPIC_WEIGHT = 1.0
DEFAULT_TOPIC_PAPERS = 20
MAX_ITERATIONS = 100


@dataclass(frozen=True)
class ModelParameters:
    """The few choices of the model: regularisation, the linear part's share, negatives drawn."""

    c: float = DEFAULT_C
    linear_share: float = DEFAULT_LINEAR_SHARE
    background: int = DEFAULT_BACKGROUND
    topic_weight: float = DEFAULT_TOPIC_WEIGHT
    topic_papers: int = DEFAULT_TOPIC_PAPERS


@dataclass(frozen=True)
class FittedModel:
    """What is stored per reader: `weights` scores a unit paper vector as `weights · x`, in units
    of the spread of scores over the background sample (so recency can be added on one scale)."""

    weights: np.ndarray
    linear_weights: np.ndarray
    bias: float


def fit_logistic(features: np.ndarray, labels: np.ndarray, sample_weights: np.ndarray,
                 c: float) -> tuple[np.ndarray, float]:
    """Weights and bias minimising the weighted log loss plus |w|² / 2C (the bias unpenalised)."""
    x = features.astype(np.float64)
    signs = np.where(labels > 0, 1.0, -1.0)
    dimension = x.shape[1]

    def loss_and_gradient(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w, b = theta[:dimension], theta[dimension]
        margins = signs * (x @ w + b)
        # log(1 + e^-m) computed stably; d/dm = -sigmoid(-m)
        losses = np.logaddexp(0.0, -margins)
        slopes = -sample_weights * signs * _sigmoid(-margins)
        gradient = np.empty(dimension + 1)
        gradient[:dimension] = x.T @ slopes + w / c
        gradient[dimension] = slopes.sum()
        return float(sample_weights @ losses + (w @ w) / (2 * c)), gradient

    result = minimize(loss_and_gradient, np.zeros(dimension + 1), jac=True, method="L-BFGS-B",
                      options={"maxiter": MAX_ITERATIONS})
    theta = result.x
    return theta[:dimension], float(theta[dimension])


def fit_reader(liked: np.ndarray, disliked: np.ndarray, background: np.ndarray,
               parameters: ModelParameters | None = None, followed: np.ndarray | None = None,
               followed_units: np.ndarray | None = None) -> FittedModel:
    """Fit one reader's model: positives `liked` and the weak positives `followed` (papers
    matching the reader's followed topics, each worth `followed_units` of a liked paper),
    negatives `disliked` plus `background` (a sample of other papers); all rows unit vectors.
    Needs at least one liked or followed paper."""
    parameters = parameters or ModelParameters()
    followed = followed if followed is not None and len(followed) else liked[:0]
    units = (np.asarray(followed_units, dtype=np.float64) if followed_units is not None and len(followed)
             else np.zeros(0))
    if len(units) != len(followed):
        raise ValueError("every followed paper needs its weight")
    if len(liked) + units.sum() <= 0:
        raise ValueError("a reader model needs at least one liked or followed paper")
    positives = np.vstack([liked, followed]) if len(followed) else liked
    negatives = np.vstack([disliked, background]) if len(disliked) else background
    features = np.vstack([positives, negatives])
    labels = np.r_[np.ones(len(positives)), np.zeros(len(negatives))]
    weights = _balanced_weights(len(liked), units, len(disliked), len(background))
    linear, bias = fit_logistic(features, labels, weights, parameters.c)
    centroid = _positive_centroid(liked, followed, units)
    combined = (parameters.linear_share * linear / _spread(background, linear)
                + (1 - parameters.linear_share) * centroid / _spread(background, centroid))
    return FittedModel(combined.astype(np.float32), linear.astype(np.float32), bias)


def _positive_centroid(liked: np.ndarray, followed: np.ndarray, units: np.ndarray) -> np.ndarray:
    """The weighted mean of the positives: a liked paper counts 1, a followed one its units."""
    if not len(followed):
        return np.asarray(liked.mean(axis=0), dtype=np.float64)
    total = liked.astype(np.float64).sum(axis=0) + units @ followed.astype(np.float64)
    return np.asarray(total / (len(liked) + units.sum()))


def _balanced_weights(liked: int, followed_units: np.ndarray, disliked: int, background: int) -> np.ndarray:
    """Positives and negatives weigh half each; a followed paper weighs its units of a liked
    one; a "not interested" paper weighs as much as a liked one, the background sample shares
    what is left of the negative half."""
    followed = len(followed_units)
    total = liked + followed + disliked + background
    per_liked = 0.5 * total / (liked + float(followed_units.sum()))
    explicit = min(per_liked, 0.5 * total / max(disliked, 1))
    rest = max(0.5 * total - explicit * disliked, 0.0) / max(background, 1)
    return np.concatenate([np.full(liked, per_liked), per_liked * followed_units, np.full(disliked, explicit),
                           np.full(background, rest)])


def _spread(sample: np.ndarray, direction: np.ndarray) -> float:
    """Standard deviation of `sample @ direction`, never zero (a one-row sample, a zero vector)."""
    if len(sample) < 2:
        return 1.0
    spread = float(np.std(sample.astype(np.float64) @ direction))
    return spread if spread > 1e-9 else 1.0


def _sigmoid(values: np.ndarray) -> np.ndarray:
    return np.asarray(0.5 * (1.0 + np.tanh(0.5 * values)))
