"""Recommendations for a reader: signals ("not interested", a seeded profile), the refit of the
reader's stored model (by the worker, never per request), the "for you" list with a reason for
each paper, "more like these papers", the cold start, and `personal_picks` for the digest.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

import numpy as np

from papercast.clock import Clock
from papercast.domain.accounts import UserState
from papercast.domain.errors import IndexUnavailable, InvalidInput, NotAllowed, NotFound
from papercast.domain.papers import Paper, parse_paper_id
from papercast.domain.recommendations import Reason, RecencyBlend, SignalKind, strongest_kind
from papercast.domain.seeding import SeedProblem, parse_seed
from papercast.domain.tokens import InvalidToken, TokenSigner
from papercast.ports import (
    CandidatePool,
    NewestPapers,
    RecommendationReads,
    RecommendedPapers,
    TopicPapers,
    Transaction,
    TrendingListings,
    UnitOfWork,
)
from papercast.recommend.model import ModelParameters, fit_reader

log = logging.getLogger("papercast.recommendations")
NOT_INTERESTED_PURPOSE = "not-interested"
# A digest's "not interested" link works for as long as a reader may act on an old digest.
NOT_INTERESTED_LINK_DAYS = 90
MAX_RECOMMENDATIONS = 100
# Positives beyond this many (the newest kept) add little to a linear model and cost fit time.
MAX_POSITIVES = 500


@dataclass(frozen=True)
class Recommendation:
    paper: Paper
    score: float
    reason: Reason | None


@dataclass(frozen=True)
class RecommendationList:
    """`cold` when the reader has no fitted model yet and the list is trending papers."""

    items: tuple[Recommendation, ...]
    cold: bool
    fitted_at: Any = None


@dataclass(frozen=True)
class SeedReport:
    used: tuple[str, ...]
    problems: tuple[SeedProblem, ...]


@dataclass(frozen=True)
class RefitReport:
    """What one refit did: `skipped` says why nothing was fitted (or None)."""

    user_id: int
    fitted: bool
    positives: int = 0
    negatives: int = 0
    skipped: str | None = None


@dataclass(frozen=True)
class RecommendationSettings:
    window_days: int = 30
    blend: RecencyBlend = RecencyBlend()
    parameters: ModelParameters = ModelParameters()


class RecommendationService:
    def __init__(self, reads: RecommendationReads, units: UnitOfWork, pool: CandidatePool,
                 trending: TrendingListings, newest: NewestPapers, papers: RecommendedPapers, clock: Clock,
                 model_id: Callable[[], str | None], signer: Callable[[], TokenSigner],
                 settings: RecommendationSettings | None = None, topics: TopicPapers | None = None) -> None:
        self._reads = reads
        self._units = units
        self._pool = pool
        self._trending = trending
        self._newest = newest
        self._papers = papers
        self._clock = clock
        self._model_id = model_id
        self._signer = signer
        self.settings = settings or RecommendationSettings()
        self._topics = topics

    def close(self) -> None:
        """Stop the candidate pool's background reloads (the process is shutting down)."""
        self._pool.close()

    # Signals -------------------------------------------------------------------------------

    def not_interested(self, user_id: int, raw_paper_id: str, on: bool = True) -> None:
        """Hide a paper from the reader's recommendations (at once) and teach the model (at the
        next refit); `on=False` takes it back."""
        paper_id = _paper_id(raw_paper_id)
        if not self._papers.get_many([paper_id], history=False):
            raise NotFound(f"no paper {paper_id!r} in the catalog")
        with self._units.begin() as transaction:
            self._check_active(transaction, user_id)
            if transaction.recommendations.set_signal(user_id, paper_id, SignalKind.NOT_INTERESTED, on):
                transaction.recommendations.signals_changed(user_id)
        log.info("recommendations.not_interested user=%d paper=%s on=%s", user_id, paper_id, on)

    def not_interested_path(self, user_id: int, paper_id: str) -> str:
        """The path of a signed "not interested" link for a digest (`url(path)` in a mail
        template): it opens a page with a button, which needs no sign-in."""
        token = self._signer().sign(NOT_INTERESTED_PURPOSE, {"u": user_id, "p": paper_id}, self._clock.now())
        return f"/not-interested?{urlencode({'token': token})}"

    def not_interested_by_link(self, token: str) -> str:
        """Act on a digest's signed link; the paper's id. `InvalidToken` (or `ExpiredToken`) for
        a forged, altered, misdirected or old link."""
        verified = self._signer().verify(NOT_INTERESTED_PURPOSE, token, self._clock.now(),
                                         timedelta(days=NOT_INTERESTED_LINK_DAYS))
        user_id, paper_id = verified.payload.get("u"), verified.payload.get("p")
        if not isinstance(user_id, int) or not isinstance(paper_id, str):
            raise InvalidToken("the link does not name a reader and a paper")
        self.not_interested(user_id, paper_id)
        return paper_id

    def seed(self, user_id: int, text: str) -> SeedReport:
        """Seed the reader's profile from arXiv ids or BibTeX; papers not in the catalog and
        entries that name none are reported, the rest used."""
        entries, problems = parse_seed(text)
        found: list[str] = []
        by_doi = self._reads.resolve_dois([entry.doi for entry in entries if entry.doi])
        by_title = self._reads.resolve_titles([entry.title for entry in entries if entry.title])
        known = self._papers.get_many([entry.paper_id for entry in entries if entry.paper_id], history=False)
        for entry in entries:
            paper_id = (entry.paper_id if entry.paper_id in known else None) \
                or by_doi.get((entry.doi or "").lower()) or by_title.get((entry.title or "").lower())
            if paper_id is None:
                named = entry.paper_id or entry.doi or entry.title or ""
                problems.append(SeedProblem(entry.where, f"{named[:80]!r} is not in the catalog"))
            else:
                found.append(paper_id)
        used = tuple(dict.fromkeys(found))
        if used:
            with self._units.begin() as transaction:
                self._check_active(transaction, user_id)
                changed = [transaction.recommendations.set_signal(user_id, paper_id, SignalKind.SEED, True)
                           for paper_id in used]
                if any(changed):
                    transaction.recommendations.signals_changed(user_id)
        log.info("recommendations.seeded user=%d used=%d problems=%d", user_id, len(used), len(problems))
        return SeedReport(used, tuple(problems))

    def record_shown(self, user_id: int, paper_ids: Sequence[str]) -> None:
        """The digest calls this with what it showed: later recommendations leave those out."""
        with self._units.begin() as transaction:
            transaction.recommendations.record_shown(user_id, paper_ids)

    @staticmethod
    def _check_active(transaction: Transaction, user_id: int) -> None:
        user = transaction.accounts.user_by_id(user_id)
        if user is None or user.state is not UserState.ACTIVE:
            raise NotAllowed("only active accounts can change their recommendations")

    # The model ------------------------------------------------------------------------------

    def refit(self, user_id: int) -> RefitReport:
        """Fit the reader's model at their current signal version and store it (the worker's
        `refit-recommendations` job). Nothing for an account that is not active, nor when the
        stored model is already at that version."""
        state = self._reads.reader_state(user_id)
        if state is not UserState.ACTIVE:
            return RefitReport(user_id, False, skipped=f"account {state.value if state else 'missing'}")
        stored = self._reads.model_of(user_id)
        if stored is None:
            return RefitReport(user_id, False, skipped="no signals")
        model_id = self._model_id()
        if stored.current and stored.model_id == model_id:
            return RefitReport(user_id, False, skipped="model is current")
        version = stored.signal_version
        signals = self._reads.signals_of(user_id)
        liked_ids = [paper_id for paper_id, kind in signals if kind.positive][-MAX_POSITIVES:]
        disliked_ids = [paper_id for paper_id, kind in signals if not kind.positive]
        followed = self._followed_papers(user_id, {paper_id for paper_id, _ in signals})
        rng = np.random.default_rng([user_id, version])
        fitted = self._fit(model_id, liked_ids, disliked_ids, followed, rng)
        weights, positives, negatives = fitted if fitted else (None, 0, 0)
        stored_now = self._reads.store_model(user_id, version, model_id, weights, positives, negatives,
                                             self._clock.now())
        log.info("recommendations.refit user=%d version=%d positives=%d negatives=%d stored=%s",
                 user_id, version, positives, negatives, stored_now)
        return RefitReport(user_id, weights is not None, positives, negatives)

    def _fit(self, model_id: str | None, liked_ids: list[str], disliked_ids: list[str],
             followed: Sequence[Sequence[str]], rng: np.random.Generator,
             ) -> tuple[np.ndarray, int, int] | None:
        """Weights, positives and negatives of a fit; None without an encoder or a positive vector.
        `followed`: each followed topic's matching papers (weak positives, see `_followed_units`)."""
        followed_ids = list(dict.fromkeys(paper_id for papers in followed for paper_id in papers))
        if model_id is None or not (liked_ids or followed_ids):
            return None
        _, liked = self._reads.vectors_of(model_id, liked_ids)
        _, disliked = self._reads.vectors_of(model_id, disliked_ids)
        found, matched = self._reads.vectors_of(model_id, followed_ids)
        units = self._followed_units(followed, set(found))
        background = self._reads.sample_vectors(model_id, self.settings.parameters.background, rng,
                                                set(liked_ids) | set(disliked_ids) | set(found))
        if not (len(liked) or len(matched)) or not len(background):
            return None
        dimension = background.shape[1]
        liked = _unit(liked) if len(liked) else np.zeros((0, dimension), dtype=np.float32)
        disliked = _unit(disliked) if len(disliked) else np.zeros((0, dimension), dtype=np.float32)
        followed_matrix = _unit(matched) if len(matched) else None
        fitted = fit_reader(liked, disliked, _unit(background), self.settings.parameters, followed_matrix,
                            np.array([units[paper_id] for paper_id in found]) if found else None)
        return fitted.weights, len(liked) + len(found), len(disliked) + len(background)

    def _followed_papers(self, user_id: int, known: set[str]) -> list[list[str]]:
        """For each of the reader's followed topics, its best `topic_papers` matches in the
        catalog, none the reader already liked or hid."""
        limit = self.settings.parameters.topic_papers
        if limit <= 0 or self.settings.parameters.topic_weight <= 0:
            return []
        return [[paper_id for paper_id in self._topic_papers(topic, "best", limit + len(known))
                 if paper_id not in known][:limit]
                for topic in self._reads.topics_of(user_id)]

    def _followed_units(self, followed: Sequence[Sequence[str]], with_vector: set[str]) -> dict[str, float]:
        """Each followed paper's weight in liked papers: a topic weighs `topic_weight`, shared
        equally by its matches that have a vector; a paper matching two topics adds both shares."""
        units: dict[str, float] = {}
        for papers in followed:
            usable = [paper_id for paper_id in papers if paper_id in with_vector]
            share = self.settings.parameters.topic_weight / max(len(usable), 1)
            for paper_id in usable:
                units[paper_id] = units.get(paper_id, 0.0) + share
        return units

    def _topic_papers(self, topic: str, order: str, limit: int, among: Sequence[str] = ()) -> list[str]:
        """A followed topic's papers from the keyword index: the `best` or `newest` of the catalog,
        or those `matching` among given papers; none (logged) when the index cannot answer."""
        if self._topics is None:
            return []
        try:
            if order == "matching":
                return self._topics.matching(topic, among, limit) if among else []
            return self._topics.best(topic, limit) if order == "best" else self._topics.newest(topic, limit)
        except (IndexUnavailable, InvalidInput) as error:  # a missing index must not cost the reader a page
            log.warning("recommendations.topic_unavailable topic=%r error=%s", topic, error)
            return []

    # Recommendations --------------------------------------------------------------------------

    def recommend(self, user_id: int, limit: int = 20, exclude: Collection[str] = ()) -> RecommendationList:
        """The reader's recommendations among recent papers, best first, each with its reason;
        while the reader has no fitted model, trending papers in their followed topics first,
        then global ones (never an empty list while the catalog has papers)."""
        limit = max(1, min(limit, MAX_RECOMMENDATIONS))
        signals = self._reads.signals_of(user_id)
        hidden = {paper_id for paper_id, _ in signals} | self._reads.shown(user_id) | set(exclude)
        stored = self._reads.model_of(user_id)
        pool = self._pool.current()
        if stored is None or stored.weights is None or stored.model_id != pool.model_id or not len(pool.ids):
            cold = self._cold_start(limit, hidden, self._reads.topics_of(user_id))
            return RecommendationList(tuple(cold), cold=True)
        scores = np.asarray(pool.matrix @ stored.weights, dtype=np.float64)
        scores += self.settings.blend.weight * self._freshness(pool.announced)
        rows = _best_rows(scores, pool.ids, hidden, limit)
        liked = [(paper_id, kind) for paper_id, kind in signals if kind.positive]
        reasons = self._reasons(pool, rows, liked)
        papers = self._papers.get_many([pool.ids[row] for row in rows], history=False)
        items = [Recommendation(papers[pool.ids[row]], float(scores[row]), reasons.get(pool.ids[row]))
                 for row in rows if pool.ids[row] in papers]
        if len(items) < limit:  # a small window: trending fills the rest
            hidden |= {item.paper.paper_id for item in items}
            items.extend(self._cold_start(limit - len(items), hidden, self._reads.topics_of(user_id)))
        return RecommendationList(tuple(items), cold=False, fitted_at=stored.fitted_at)

    def personal_picks(self, user_id: int, limit: int, exclude: Collection[str] = ()) -> list[Recommendation]:
        """For the digest's personal section: the reader's best `limit` recommendations, none of
        `exclude` (the papers the digest lists already) nor of what earlier digests showed."""
        return list(self.recommend(user_id, limit, exclude).items)

    def more_like(self, raw_paper_ids: Sequence[str], limit: int = 20,
                  exclude: Collection[str] = ()) -> list[Recommendation]:
        """Recent papers nearest to a set of papers as a whole (the mean of their vectors), each
        with the paper of the set it is closest to."""
        paper_ids = list(dict.fromkeys(_paper_id(raw) for raw in raw_paper_ids))
        pool = self._pool.current()
        if not paper_ids or pool.model_id is None or not len(pool.ids):
            return []
        found, vectors = self._reads.vectors_of(pool.model_id, paper_ids)
        if not found:
            return []
        direction = _unit(vectors).mean(axis=0)
        scores = np.asarray(pool.matrix @ direction, dtype=np.float64)
        limit = max(1, min(limit, MAX_RECOMMENDATIONS))
        rows = _best_rows(scores, pool.ids, set(paper_ids) | set(exclude), limit)
        reasons = self._reasons(pool, rows, [(paper_id, None) for paper_id in found])
        papers = self._papers.get_many([pool.ids[row] for row in rows], history=False)
        return [Recommendation(papers[pool.ids[row]], float(scores[row]), reasons.get(pool.ids[row]))
                for row in rows if pool.ids[row] in papers]

    def _freshness(self, announced: np.ndarray) -> np.ndarray:
        blend = self.settings.blend
        if blend.half_life_days <= 0:
            return np.zeros(len(announced))
        age_days = np.maximum(self._clock.now().timestamp() - announced, 0.0) / 86_400.0
        return np.power(2.0, -age_days / blend.half_life_days)

    def _reasons(self, pool: Any, rows: Sequence[int], liked: Sequence[tuple[str, SignalKind | None]],
                 ) -> dict[str, Reason]:
        """For each recommended row, the liked paper nearest to it (cosine) and how it was liked."""
        if not rows or not liked or pool.model_id is None:
            return {}
        kinds: dict[str, list[SignalKind]] = {}
        for paper_id, kind in liked:
            kinds.setdefault(paper_id, []).extend([kind] if kind else [])
        found, vectors = self._reads.vectors_of(pool.model_id, list(kinds))
        if not found:
            return {}
        similarity = np.asarray(pool.matrix[list(rows)] @ _unit(vectors).T)
        nearest = similarity.argmax(axis=1)
        titles = self._papers.get_many(list({found[int(index)] for index in nearest}), history=False)
        reasons = {}
        for position, row in enumerate(rows):
            liked_id = found[int(nearest[position])]
            title = titles[liked_id].title if liked_id in titles else liked_id
            reasons[pool.ids[row]] = Reason(liked_id, title, strongest_kind(kinds[liked_id]),
                                            float(similarity[position, nearest[position]]))
        return reasons

    def _cold_start(self, limit: int, hidden: set[str], topics: Sequence[str] = ()) -> list[Recommendation]:
        """Trending papers that match the reader's followed topics, then the topics' newest
        papers, then trending papers, then the newest papers (when few or none have points)."""
        taken = set(hidden)
        items: list[Recommendation] = []

        def add(found: Sequence[Recommendation]) -> None:
            for item in found:
                if len(items) < limit and item.paper.paper_id not in taken:
                    items.append(item)
                    taken.add(item.paper.paper_id)

        trending = self._trending.listing("trending", 0, MAX_RECOMMENDATIONS).entries
        if topics:
            ids = [entry.paper.paper_id for entry in trending if entry.paper.paper_id not in taken]
            matched = {paper_id for topic in topics
                       for paper_id in self._topic_papers(topic, "matching", len(ids), ids)}
            add([Recommendation(entry.paper, float(entry.standing.points), None) for entry in trending
                 if entry.paper.paper_id in matched])
            add(self._newest_in(topics, limit - len(items), taken))
        add([Recommendation(entry.paper, float(entry.standing.points), None) for entry in trending])
        if len(items) < limit:  # nothing has points yet: the newest papers
            page = self._newest.recent(None, 0, min(limit + len(taken), MAX_RECOMMENDATIONS))
            add([Recommendation(paper, 0.0, None) for paper in page.papers])
        return items

    def _newest_in(self, topics: Sequence[str], limit: int, taken: set[str]) -> list[Recommendation]:
        """The newest papers of the followed topics together, newest first."""
        if limit <= 0:
            return []
        wanted = min(limit + len(taken), MAX_RECOMMENDATIONS)
        found = [paper_id for topic in topics for paper_id in self._topic_papers(topic, "newest", wanted)]
        ids = [paper_id for paper_id in dict.fromkeys(found) if paper_id not in taken]
        papers = self._papers.get_many(ids, history=False)
        ordered = sorted((papers[paper_id] for paper_id in ids if paper_id in papers),
                         key=lambda paper: paper.announced_on or date.min, reverse=True)
        return [Recommendation(paper, 0.0, None) for paper in ordered[:limit]]


def _best_rows(scores: np.ndarray, ids: Sequence[str], hidden: set[str], limit: int) -> list[int]:
    """Rows of the `limit` highest scores whose id is not hidden, best first."""
    wanted = min(len(scores), limit + len(hidden))
    top = np.argpartition(-scores, wanted - 1)[:wanted] if wanted < len(scores) else np.arange(len(scores))
    ordered = top[np.argsort(-scores[top], kind="stable")]
    return [int(row) for row in ordered if ids[row] not in hidden][:limit]


def _unit(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms > 0, norms, 1.0)


def _paper_id(raw: str) -> str:
    try:
        return parse_paper_id(raw).paper_id
    except InvalidInput as error:
        raise NotFound(str(error)) from error
