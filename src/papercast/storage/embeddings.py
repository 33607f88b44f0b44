"""Stored paper embeddings on SQLite and PostgreSQL, and the embedding backlog derived from them.

The backlog is not a table: a paper is pending for a model when it has no vector, a vector from
another model, or one taken from an older version of the paper (its `content_hash` moved on).
Ingest needs to know nothing about embeddings, and a model change re-queues every paper. A
per-model watermark (a `change_seq` up to which every paper is known current) keeps the search
for pending papers to the recent end of the catalog.
Writes take the `embedding_seq` counter's row first, so that sequence is also commit order and a
vector index can follow `changed_since`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Join,
    Table,
    case,
    delete,
    func,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql import Update

from papercast.clock import Clock
from papercast.embeddings.text import paper_text
from papercast.storage.engine import write_transaction
from papercast.storage.tables import (
    EMBEDDING_CHANGE_COUNTER,
    counters,
    embedding_watermarks,
    paper_embeddings,
    papers,
)

VECTOR_DTYPE = np.dtype("<f4")
VECTOR_CHUNK = 10_000
JOIN_COUNT_THRESHOLD = 50_000  # papers past the watermark above which counting joins
_IN_CHUNK = 900  # bound parameters per IN list, well below SQLite's limit


class PendingPaper(NamedTuple):
    """A paper that needs a (new) vector; `stored_text_hash` is set when it has one from this model."""

    paper_id: str
    title: str
    abstract: str
    content_hash: str
    change_seq: int
    stored_text_hash: str | None = None


class EmbeddingRow(NamedTuple):
    """A vector to store for a paper, with the hashes of the paper and text it was computed from."""

    paper_id: str
    vector: np.ndarray
    content_hash: str
    text_hash: str


@dataclass(frozen=True)
class VectorChanges:
    """Vectors written after some `embedding_seq`, oldest first; `last_seq` is where to continue.

    `replaced_ids` are papers whose vector is now another model's: an index of this model drops them.
    """

    ids: list[str]
    matrix: np.ndarray
    last_seq: int
    replaced_ids: list[str]


class SqlEmbeddingStore:
    """Paper vectors in the `paper_embeddings` table, through SQLAlchemy Core."""

    def __init__(self, engine: Engine, clock: Clock) -> None:
        self._engine = engine
        self._clock = clock

    def pending_count(self, model_id: str) -> int:
        after_change_seq = self.watermark(model_id)
        with self._engine.connect() as connection:
            candidates = connection.execute(
                select(func.count()).where(papers.c.change_seq > after_change_seq)).scalar_one()
            # A few recent papers: one lookup each. Many: a join, which PostgreSQL hashes (1.2 s at
            # 1M papers against 8 s of lookups). Its row estimate past the watermark is too unreliable
            # to leave the choice to the planner (it hashed all 1M vectors to count 3 papers).
            query = (select(func.count()).where(papers.c.change_seq > after_change_seq, _is_stale(model_id))
                     if candidates <= JOIN_COUNT_THRESHOLD else
                     select(func.count()).select_from(_papers_with_vectors())
                     .where(papers.c.change_seq > after_change_seq, _is_pending(model_id)))
            return int(connection.execute(query).scalar_one())

    def pending(self, model_id: str, limit: int, after_change_seq: int | None = None) -> list[PendingPaper]:
        """Up to `limit` pending papers, in change order, changed after `after_change_seq`
        (by default: after the model's watermark)."""
        if after_change_seq is None:
            after_change_seq = self.watermark(model_id)
        stored_text_hash = (
            select(case((paper_embeddings.c.model_id == model_id, paper_embeddings.c.text_hash)))
            .where(paper_embeddings.c.paper_id == papers.c.id).scalar_subquery()
        )
        query = (
            select(papers.c.id, papers.c.title, papers.c.abstract, papers.c.content_hash, papers.c.change_seq,
                   stored_text_hash)
            .where(papers.c.change_seq > after_change_seq, _is_stale(model_id))
            .order_by(papers.c.change_seq).limit(limit)
        )
        with self._engine.connect() as connection:
            return [PendingPaper(row[0], row[1], row[2], row[3], int(row[4]), row[5])
                    for row in connection.execute(query)]

    def watermark(self, model_id: str) -> int:
        """The `change_seq` up to which every paper has a current vector from `model_id` (0: none known)."""
        with self._engine.connect() as connection:
            return int(connection.execute(select(_watermark(model_id))).scalar_one())

    def newest_change_seq(self) -> int:
        with self._engine.connect() as connection:
            return int(connection.execute(select(func.max(papers.c.change_seq))).scalar_one() or 0)

    def advance_watermark(self, model_id: str, through_change_seq: int) -> None:
        """Record that every paper up to `through_change_seq` has a current vector from `model_id`.

        Only the caller can know this (it found nothing pending up to there); it never moves back.
        """
        with write_transaction(self._engine) as connection:
            current = connection.execute(select(_watermark(model_id))).scalar_one()
            if through_change_seq <= current:
                return
            row = {"model_id": model_id, "through_change_seq": through_change_seq,
                   "updated_at": self._clock.now()}
            _upsert(connection, embedding_watermarks, [row], key="model_id")

    def save(self, model_id: str, rows: Sequence[tuple[str, np.ndarray, str, str]]) -> int:
        """Insert or replace vectors in one transaction; returns how many were stored.

        `rows` are `EmbeddingRow`s or plain (paper_id, vector, content_hash, text_hash) tuples.
        A row is skipped when its paper was deleted or changed (another `content_hash`) since it
        was read: checked under the counter lock, so a slow writer never overwrites a newer vector.
        Other models' watermarks are dropped: their vectors may just have been replaced.
        """
        if not rows:
            return 0
        records = list({row[0]: EmbeddingRow(*row) for row in rows}.values())  # one row per paper
        with write_transaction(self._engine) as connection:
            connection.execute(_lock_counter())
            current = _content_hashes(connection, [record.paper_id for record in records])
            records = [record for record in records if current.get(record.paper_id) == record.content_hash]
            if not records:
                return 0
            last = connection.execute(
                update(counters).where(counters.c.name == EMBEDDING_CHANGE_COUNTER)
                .values(value=counters.c.value + len(records)).returning(counters.c.value)
            ).scalar_one()
            first, now = int(last) - len(records) + 1, self._clock.now()
            values = [{
                "paper_id": record.paper_id, "model_id": model_id, "dimension": int(record.vector.shape[0]),
                "vector": encode_vector(record.vector), "content_hash": record.content_hash,
                "text_hash": record.text_hash, "embedding_seq": first + offset, "embedded_at": now,
            } for offset, record in enumerate(records)]
            _upsert(connection, paper_embeddings, values, key="paper_id")
            others = embedding_watermarks.c.model_id != model_id
            connection.execute(delete(embedding_watermarks).where(others))
        return len(records)

    def refresh(self, model_id: str, current: Sequence[tuple[str, str, str]]) -> int:
        """Mark vectors current for papers whose metadata changed but whose embedded text did not.

        `current` holds (paper_id, content_hash, text_hash); a row is touched only when it has a
        vector from `model_id` of that very text and the paper still has that content hash. The
        vector and its sequence stay as they are.
        """
        touched = 0
        with write_transaction(self._engine) as connection:
            connection.execute(_lock_counter())
            hashes = _content_hashes(connection, [paper_id for paper_id, _, _ in current])
            for paper_id, content_hash, text_hash in current:
                if hashes.get(paper_id) != content_hash:
                    continue
                touched += connection.execute(
                    update(paper_embeddings)
                    .where(paper_embeddings.c.paper_id == paper_id, paper_embeddings.c.model_id == model_id,
                           paper_embeddings.c.text_hash == text_hash)
                    .values(content_hash=content_hash)
                ).rowcount
        return touched

    def count(self, model_id: str) -> int:
        with self._engine.connect() as connection:
            return int(connection.execute(
                select(func.count()).where(paper_embeddings.c.model_id == model_id)).scalar_one())

    def last_seq(self) -> int:
        """The newest `embedding_seq` written; read it before `vectors()` and follow on from it."""
        with self._engine.connect() as connection:
            newest = connection.execute(select(func.max(paper_embeddings.c.embedding_seq))).scalar_one()
            return int(newest or 0)

    def changes_after(self, embedding_seq: int) -> int:
        """How many vectors were written after `embedding_seq` (a vector index's lag)."""
        with self._engine.connect() as connection:
            return int(connection.execute(
                select(func.count()).select_from(paper_embeddings)
                .where(paper_embeddings.c.embedding_seq > embedding_seq)
            ).scalar_one())

    def iter_vector_chunks(self, model_id: str,
                           chunk_size: int = VECTOR_CHUNK) -> Iterator[tuple[list[str], np.ndarray]]:
        """Every vector of `model_id` as (ids, float32 matrix) chunks in paper-id order."""
        after = ""
        while True:
            with self._engine.connect() as connection:
                rows = connection.execute(
                    select(paper_embeddings.c.paper_id, paper_embeddings.c.dimension,
                           paper_embeddings.c.vector)
                    .where(paper_embeddings.c.model_id == model_id, paper_embeddings.c.paper_id > after)
                    .order_by(paper_embeddings.c.paper_id).limit(chunk_size)
                ).all()
            if not rows:
                return
            yield [row[0] for row in rows], decode_vectors([row[2] for row in rows], int(rows[0][1]))
            after = rows[-1][0]

    def vectors(self, model_id: str, chunk_size: int = VECTOR_CHUNK) -> tuple[list[str], np.ndarray]:
        """All vectors of `model_id` as (ids, matrix of shape (n, dimension)), read in chunks."""
        ids: list[str] = []
        matrix: np.ndarray | None = None
        for chunk_ids, chunk in self.iter_vector_chunks(model_id, chunk_size):
            if matrix is None:
                rows = max(self.count(model_id), len(chunk_ids))
                matrix = np.empty((rows, chunk.shape[1]), dtype=np.float32)
            if chunk.shape[1] != matrix.shape[1]:
                raise ValueError(f"model {model_id} has vectors of {chunk.shape[1]} and {matrix.shape[1]} "
                                 "dimensions")
            if len(ids) + len(chunk_ids) > matrix.shape[0]:  # rows written while we read
                matrix = np.concatenate([matrix, np.empty_like(chunk)])
            matrix[len(ids):len(ids) + len(chunk_ids)] = chunk
            ids.extend(chunk_ids)
        if matrix is None:
            return [], np.zeros((0, 0), dtype=np.float32)
        return ids, matrix[:len(ids)]

    def changed_since(self, model_id: str, embedding_seq: int, limit: int = VECTOR_CHUNK) -> VectorChanges:
        """Up to `limit` vectors of `model_id` written after `embedding_seq`, in write order.

        Deleted papers lose their vectors without a trace here; the papers' own change feed has them.
        """
        with self._engine.connect() as connection:
            rows = connection.execute(
                select(paper_embeddings.c.paper_id, paper_embeddings.c.dimension, paper_embeddings.c.vector,
                       paper_embeddings.c.model_id, paper_embeddings.c.embedding_seq)
                .where(paper_embeddings.c.embedding_seq > embedding_seq)
                .order_by(paper_embeddings.c.embedding_seq).limit(limit)
            ).all()
        if not rows:
            return VectorChanges([], np.zeros((0, 0), dtype=np.float32), embedding_seq, [])
        mine = [row for row in rows if row[3] == model_id]
        matrix = (decode_vectors([row[2] for row in mine], int(mine[0][1])) if mine
                  else np.zeros((0, 0), dtype=np.float32))
        replaced = [row[0] for row in rows if row[3] != model_id]
        return VectorChanges([row[0] for row in mine], matrix, int(rows[-1][4]), replaced)

    def iter_paper_texts(self, limit: int | None = None) -> Iterator[str]:
        """The embedding texts of papers, newest first, for fitting a corpus-trained encoder."""
        query = select(papers.c.title, papers.c.abstract).order_by(papers.c.change_seq.desc())
        if limit is not None:
            query = query.limit(limit)
        with self._engine.connect() as connection:
            for title, abstract in connection.execute(query.execution_options(yield_per=1000)):
                yield paper_text(title, abstract)


def encode_vector(vector: np.ndarray) -> bytes:
    return np.ascontiguousarray(vector, dtype=VECTOR_DTYPE).tobytes()


def decode_vectors(blobs: Sequence[bytes], dimension: int) -> np.ndarray:
    """Stored vector bytes as a float32 matrix; a blob of the wrong size is an error, not a silent zero."""
    joined = b"".join(bytes(blob) for blob in blobs)
    if len(joined) != len(blobs) * dimension * VECTOR_DTYPE.itemsize:
        raise ValueError(f"stored vectors are not all {dimension} float32 values")
    return np.frombuffer(joined, dtype=VECTOR_DTYPE).reshape(len(blobs), dimension).astype(np.float32)


def _papers_with_vectors() -> Join:
    return papers.outerjoin(paper_embeddings, paper_embeddings.c.paper_id == papers.c.id)


def _is_pending(model_id: str) -> ColumnElement[bool]:
    return or_(
        paper_embeddings.c.paper_id.is_(None),
        paper_embeddings.c.model_id != model_id,
        paper_embeddings.c.content_hash != papers.c.content_hash,
    )


def _is_stale(model_id: str) -> ColumnElement[bool]:
    """`_is_pending` as a correlated scalar subquery, for scans in change order that stop at a limit.

    PostgreSQL never flattens a scalar subquery into a join, so this is one primary-key lookup per
    paper walked along `ix_papers_change_seq`; a LEFT JOIN lets the planner hash the whole
    embeddings table on every batch (0.4 s at 1M papers, measured), however few are pending.
    """
    embedded_as = (select(paper_embeddings.c.model_id + " " + paper_embeddings.c.content_hash)
                   .where(paper_embeddings.c.paper_id == papers.c.id).scalar_subquery())
    return func.coalesce(embedded_as, "") != literal(f"{model_id} ") + papers.c.content_hash


def _content_hashes(connection: Connection, paper_ids: Sequence[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for start in range(0, len(paper_ids), _IN_CHUNK):
        chunk = paper_ids[start:start + _IN_CHUNK]
        query = select(papers.c.id, papers.c.content_hash).where(papers.c.id.in_(chunk))
        found.update((str(paper_id), str(digest)) for paper_id, digest in connection.execute(query))
    return found


def _watermark(model_id: str) -> ColumnElement[int]:
    stored = (select(embedding_watermarks.c.through_change_seq)
              .where(embedding_watermarks.c.model_id == model_id).scalar_subquery())
    return func.coalesce(stored, 0)


def _upsert(connection: Connection, table: Table, rows: list[dict[str, Any]], key: str) -> None:
    """Insert rows, replacing those whose `key` exists (the same statement on both engines)."""
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table)
    statement = statement.on_conflict_do_update(
        index_elements=[table.c[key]],
        set_={name: statement.excluded[name] for name in rows[0] if name != key},
    )
    connection.execute(statement, rows)


def _lock_counter() -> Update:
    # Concurrent writers queue here, so embedding_seq order is commit order.
    return update(counters).where(counters.c.name == EMBEDDING_CHANGE_COUNTER).values(value=counters.c.value)
