"""Readers' recommendation signals, stored models and shown papers on SQLite and PostgreSQL.

`RecommendationWrites` works inside a unit of work (`transaction.recommendations`): a signal,
the move of the reader's `signal_version` and the refit job it causes commit together. The job's
unique key names the reader and a short period, so a burst of signals makes one refit, run when
the period ends. `SqlRecommendationStore` reads what the refit and the recommendations need.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import Connection, Engine, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from papercast.domain.accounts import UserState
from papercast.domain.recommendations import SignalKind
from papercast.storage.embeddings import decode_vectors, encode_vector
from papercast.storage.engine import as_utc, write_transaction
from papercast.storage.jobs import insert_job
from papercast.storage.tables import (
    paper_embeddings,
    paper_popularity,
    papers,
    reader_models,
    reader_signals,
    saves,
    shown_papers,
    subscriber_topics,
    subscribers,
    users,
    votes,
)

REFIT_KIND = "refit-recommendations"
_IN_CHUNK = 900
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_VECTOR = (paper_embeddings.c.paper_id, paper_embeddings.c.dimension, paper_embeddings.c.vector)


@dataclass(frozen=True)
class StoredModel:
    """A reader's model row: the versions, and the weights when one has been fitted."""

    user_id: int
    signal_version: int
    fitted_version: int | None
    model_id: str | None
    weights: np.ndarray | None
    positives: int
    negatives: int
    fitted_at: datetime | None

    @property
    def current(self) -> bool:
        return self.fitted_version is not None and self.fitted_version >= self.signal_version


def refit_key(user_id: int, now: datetime, delay_seconds: int) -> tuple[str, datetime]:
    """The refit job's unique key and run time: one job per reader and `delay_seconds` period,
    run at the period's end (so the signals of a burst are all in)."""
    period = max(delay_seconds, 1)
    index = math.floor((now - _EPOCH).total_seconds() / period)
    run_at = _EPOCH + timedelta(seconds=(index + 1) * period)
    return f"{REFIT_KIND}:{user_id}@{index * period}", run_at


class RecommendationWrites:
    """Signal, model and shown-paper writes on the caller's transaction `connection`."""

    def __init__(self, connection: Connection, now: datetime, refit_delay_seconds: int = 30) -> None:
        self._connection = connection
        self._now = now
        self._refit_delay = refit_delay_seconds

    def set_signal(self, user_id: int, paper_id: str, kind: SignalKind, on: bool) -> bool:
        """Add or remove a "not interested" or seed signal; whether anything changed."""
        if kind in (SignalKind.UPVOTE, SignalKind.SAVE):
            raise ValueError("upvotes and saves are written by the votes store")
        signals = reader_signals.c
        if on:
            statement = (_insert(self._connection, reader_signals)
                         .values(user_id=user_id, paper_id=paper_id, kind=kind.value, created_at=self._now)
                         .on_conflict_do_nothing(
                             index_elements=[signals.user_id, signals.paper_id, signals.kind])
                         .returning(signals.user_id))
        else:
            statement = delete(reader_signals).where(
                signals.user_id == user_id, signals.paper_id == paper_id, signals.kind == kind.value,
            ).returning(signals.user_id)
        # RETURNING, not rowcount: a conflict skipped by SQLite's INSERT may still count a row.
        return self._connection.execute(statement).scalar_one_or_none() is not None

    def signals_changed(self, user_id: int) -> int:
        """Move the reader's signal version on and enqueue the (coalesced) refit; the new version."""
        self._connection.execute(
            _insert(self._connection, reader_models).values(user_id=user_id, signal_version=0)
            .on_conflict_do_nothing(index_elements=[reader_models.c.user_id]))
        version = int(self._connection.execute(
            update(reader_models).where(reader_models.c.user_id == user_id)
            .values(signal_version=reader_models.c.signal_version + 1)
            .returning(reader_models.c.signal_version)).scalar_one())
        key, run_at = refit_key(user_id, self._now, self._refit_delay)
        insert_job(self._connection, REFIT_KIND, {"user_id": user_id}, self._now,
                   unique_key=key, run_at=run_at)
        return version

    def store_model(self, user_id: int, version: int, model_id: str | None, weights: np.ndarray | None,
                    positives: int, negatives: int) -> bool:
        """Record a model fitted at signal `version`, unless one at that version or later is
        stored already (two workers on one reader: the later fit wins, never an older one)."""
        fitted = reader_models.c.fitted_version
        result = self._connection.execute(
            update(reader_models)
            .where(reader_models.c.user_id == user_id, (fitted.is_(None)) | (fitted < version))
            .values(fitted_version=version, model_id=model_id,
                    dimension=None if weights is None else int(weights.shape[0]),
                    weights=None if weights is None else encode_vector(weights),
                    positives=positives, negatives=negatives, fitted_at=self._now))
        return bool(result.rowcount)

    def record_shown(self, user_id: int, paper_ids: Sequence[str]) -> None:
        """Remember that a digest showed `paper_ids` to the reader (repeats change nothing)."""
        rows = [{"user_id": user_id, "paper_id": paper_id, "shown_at": self._now}
                for paper_id in dict.fromkeys(paper_ids)]
        if rows:
            self._connection.execute(
                _insert(self._connection, shown_papers).values(rows)
                .on_conflict_do_nothing(index_elements=[shown_papers.c.user_id, shown_papers.c.paper_id]))


class SqlRecommendationStore:
    """Reads for refits and recommendations, and the refit's own short write."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def reader_state(self, user_id: int) -> UserState | None:
        with self._engine.connect() as connection:
            state = connection.execute(
                select(users.c.state).where(users.c.id == user_id)).scalar_one_or_none()
        return None if state is None else UserState(state)

    def model_of(self, user_id: int) -> StoredModel | None:
        with self._engine.connect() as connection:
            row = connection.execute(select(reader_models).where(reader_models.c.user_id == user_id)).first()
        if row is None:
            return None
        weights = None
        if row.weights is not None and row.dimension:
            weights = decode_vectors([row.weights], int(row.dimension))[0]
        return StoredModel(int(row.user_id), int(row.signal_version),
                           None if row.fitted_version is None else int(row.fitted_version),
                           row.model_id, weights, int(row.positives), int(row.negatives),
                           as_utc(row.fitted_at))

    def signals_of(self, user_id: int) -> list[tuple[str, SignalKind]]:
        """Every signal of the reader: upvotes, saves, seeds and "not interested", oldest first."""
        found: list[tuple[datetime, str, SignalKind]] = []
        signals = reader_signals.c
        with self._engine.connect() as connection:
            for table, kind in ((votes, SignalKind.UPVOTE), (saves, SignalKind.SAVE)):
                rows = connection.execute(select(table.c.paper_id, table.c.created_at)
                                          .where(table.c.user_id == user_id))
                found.extend((as_utc(row.created_at) or _EPOCH, row.paper_id, kind) for row in rows)
            rows = connection.execute(select(signals.paper_id, signals.kind, signals.created_at)
                                      .where(signals.user_id == user_id))
            found.extend((as_utc(row.created_at) or _EPOCH, row.paper_id, SignalKind(row.kind))
                         for row in rows)
        found.sort(key=lambda item: (item[0], item[1]))
        return [(paper_id, kind) for _, paper_id, kind in found]

    def topics_of(self, user_id: int) -> list[str]:
        """The reader's followed topics: saved searches and `cat:` categories of the digest
        subscription linked to their account (whatever its state: pausing or ending the mail
        does not unfollow), in the reader's order; none when the subscription was removed."""
        with self._engine.connect() as connection:
            return list(connection.execute(
                select(subscriber_topics.c.query)
                .join(subscribers, subscribers.c.id == subscriber_topics.c.subscriber_id)
                .where(subscribers.c.user_id == user_id, subscribers.c.email.is_not(None))
                .order_by(subscriber_topics.c.position)).scalars())

    def shown(self, user_id: int) -> set[str]:
        with self._engine.connect() as connection:
            return set(connection.execute(select(shown_papers.c.paper_id)
                                          .where(shown_papers.c.user_id == user_id)).scalars())

    def vectors_of(self, model_id: str, paper_ids: Sequence[str]) -> tuple[list[str], np.ndarray]:
        """The stored vectors of `model_id` for those of `paper_ids` that have one."""
        ids: list[str] = []
        blobs: list[bytes] = []
        dimension = 0
        unique = list(dict.fromkeys(paper_ids))
        with self._engine.connect() as connection:
            for start in range(0, len(unique), _IN_CHUNK):
                for row in connection.execute(
                        select(*_VECTOR)
                        .where(paper_embeddings.c.model_id == model_id,
                               paper_embeddings.c.paper_id.in_(unique[start:start + _IN_CHUNK]))):
                    ids.append(row.paper_id)
                    blobs.append(row.vector)
                    dimension = int(row.dimension)
        if not ids:
            return [], np.zeros((0, 0), dtype=np.float32)
        return ids, decode_vectors(blobs, dimension)

    def sample_vectors(self, model_id: str, size: int, rng: np.random.Generator,
                       exclude: set[str]) -> np.ndarray:
        """About `size` vectors of `model_id` drawn uniformly from the catalog (by random
        embedding sequence numbers: an indexed look-up, no scan), none of `exclude`."""
        with self._engine.connect() as connection:
            # Over all models: two index look-ups (filtered by model, min and max scan the table).
            # Draws that land on another model's vectors are dropped by the query below.
            low, high = connection.execute(
                select(func.min(paper_embeddings.c.embedding_seq), func.max(paper_embeddings.c.embedding_seq))
            ).one()
            if low is None:
                return np.zeros((0, 0), dtype=np.float32)
            draws = sorted({int(value) for value in rng.integers(int(low), int(high) + 1, size=size * 2)})
            rows: list[Any] = []
            for start in range(0, len(draws), _IN_CHUNK):
                rows.extend(connection.execute(
                    select(*_VECTOR)
                    .where(paper_embeddings.c.model_id == model_id,
                           paper_embeddings.c.embedding_seq.in_(draws[start:start + _IN_CHUNK]))).all())
        rows = [row for row in rows if row.paper_id not in exclude][:size]
        if not rows:
            return np.zeros((0, 0), dtype=np.float32)
        return decode_vectors([row.vector for row in rows], int(rows[0].dimension))

    def recent(self, model_id: str, since: datetime | None) -> tuple[list[str], np.ndarray, np.ndarray]:
        """Papers announced at or after `since` (all when None) with a vector of `model_id`: ids,
        vectors and announcement times as POSIX seconds."""
        ids: list[str] = []
        blobs: list[bytes] = []
        times: list[float] = []
        dimension = 0
        query = (select(paper_embeddings.c.paper_id, paper_embeddings.c.dimension, paper_embeddings.c.vector,
                        paper_popularity.c.announced_at)
                 .join(paper_popularity, paper_popularity.c.paper_id == paper_embeddings.c.paper_id)
                 .where(paper_embeddings.c.model_id == model_id))
        if since is not None:
            query = query.where(paper_popularity.c.announced_at >= since)
        with self._engine.connect() as connection:
            for row in connection.execution_options(yield_per=5_000).execute(query):
                ids.append(row.paper_id)
                blobs.append(row.vector)
                times.append((as_utc(row.announced_at) or _EPOCH).timestamp())
                dimension = int(row.dimension)
        if not ids:
            return [], np.zeros((0, 0), dtype=np.float32), np.zeros(0)
        return ids, decode_vectors(blobs, dimension), np.array(times)

    def points(self) -> dict[str, float]:
        """Every paper's stored popularity points (for the offline popularity baseline)."""
        with self._engine.connect() as connection:
            rows = connection.execute(select(paper_popularity.c.paper_id, paper_popularity.c.points)
                                      .where(paper_popularity.c.points > 0))
            return {row.paper_id: float(row.points) for row in rows}

    def resolve_dois(self, dois: Sequence[str]) -> dict[str, str]:
        """Catalog paper ids by DOI (lower-cased), for the DOIs that name a paper."""
        return self._ids_by_lowered(papers.c.doi, dois)

    def resolve_titles(self, titles: Sequence[str]) -> dict[str, str]:
        """Catalog paper ids by exact title, ignoring case (the seed's last resort)."""
        return self._ids_by_lowered(papers.c.title, titles)

    def _ids_by_lowered(self, column: Any, values: Sequence[str]) -> dict[str, str]:
        """{lower-cased value: paper id} for the papers whose `column` equals a value, ignoring case."""
        wanted = list(dict.fromkeys(value.lower() for value in values))
        found: dict[str, str] = {}
        with self._engine.connect() as connection:
            for start in range(0, len(wanted), _IN_CHUNK):
                chunk = wanted[start:start + _IN_CHUNK]
                rows = connection.execute(select(func.lower(column), papers.c.id)
                                          .where(func.lower(column).in_(chunk)))
                found.update((value, paper_id) for value, paper_id in rows)
        return found

    def store_model(self, user_id: int, version: int, model_id: str | None, weights: np.ndarray | None,
                    positives: int, negatives: int, now: datetime) -> bool:
        with write_transaction(self._engine) as connection:
            return RecommendationWrites(connection, now).store_model(
                user_id, version, model_id, weights, positives, negatives)


def _insert(connection: Connection, table: Any) -> Any:
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)
