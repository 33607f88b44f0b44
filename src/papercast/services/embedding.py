"""Keeping paper vectors current: drain the embedding backlog in committed batches.

Safe to interrupt: each batch is its own transaction, and the backlog is whatever is still
missing or stale. Papers whose metadata changed but whose title and abstract did not keep their
vector (only its recorded content hash moves on), so the encoder runs only for real text changes.
A different encoder (`model_id`) makes every paper pending again. A run that drains the backlog
moves the model's watermark up, so the next run looks only at papers changed since.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from papercast.clock import Clock, SystemClock
from papercast.embeddings.text import paper_text, text_hash
from papercast.ports import Embedder, EmbeddingCandidate, EmbeddingStore

DEFAULT_BATCH_SIZE = 64


@dataclass
class EmbedReport:
    """What one catch-up did: vectors computed, vectors kept for unchanged text, and what is left."""

    model_id: str
    embedded: int = 0
    refreshed: int = 0
    remaining: int = 0
    seconds: float = 0.0

    @property
    def processed(self) -> int:
        return self.embedded + self.refreshed

    @property
    def rate(self) -> float:
        """Papers embedded per second."""
        return self.embedded / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"model_id": self.model_id, "embedded": self.embedded, "refreshed": self.refreshed,
                "remaining": self.remaining, "seconds": round(self.seconds, 3), "rate": round(self.rate, 2)}


class EmbeddingService:
    """Embeds pending papers with one encoder and stores the vectors."""

    def __init__(self, store: EmbeddingStore, embedder: Embedder, clock: Clock | None = None) -> None:
        self._store = store
        self._embedder = embedder
        self._clock = clock or SystemClock()

    @property
    def model_id(self) -> str:
        return self._embedder.model_id

    @property
    def preferred_batch_size(self) -> int:
        """The encoder's own batch size when it has one (bigger on a GPU), else 64."""
        return int(getattr(self._embedder, "batch_size", DEFAULT_BATCH_SIZE))

    def pending_count(self) -> int:
        return self._store.pending_count(self._embedder.model_id)

    def catch_up(self, batch_size: int = DEFAULT_BATCH_SIZE,
                 on_progress: Callable[[EmbedReport], None] | None = None,
                 limit: int | None = None, should_stop: Callable[[], bool] | None = None) -> EmbedReport:
        """Embed pending papers, oldest change first, `batch_size` per committed transaction.

        `limit` caps how many papers are processed; `on_progress` sees the report after each batch;
        `should_stop` is asked before each batch (a worker that is shutting down says yes).
        """
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        started = self._clock.monotonic()
        report = EmbedReport(model_id=self._embedder.model_id)
        after_change_seq = self._store.watermark(report.model_id)
        all_stored = True
        while (limit is None or report.processed < limit) and not (should_stop and should_stop()):
            size = batch_size if limit is None else min(batch_size, limit - report.processed)
            newest = self._store.newest_change_seq()  # read first: nothing up to it is pending if...
            batch = self._store.pending(report.model_id, size, after_change_seq)
            if not batch:  # ... this finds nothing after the papers this run has seen
                if all_stored:
                    self._store.advance_watermark(report.model_id, newest)
                break
            # Papers changed during the run get a later change_seq, so they are reached again.
            after_change_seq = batch[-1].change_seq
            all_stored &= self._embed_batch(batch, report)
            report.seconds = self._clock.monotonic() - started
            if on_progress is not None:
                on_progress(report)
        report.remaining = self._store.pending_count(report.model_id)
        report.seconds = self._clock.monotonic() - started
        return report

    def _embed_batch(self, batch: Sequence[EmbeddingCandidate], report: EmbedReport) -> bool:
        """Embed or refresh one batch; False when a vector to refresh was not there as read.

        That happens when a paper changed meanwhile (it is reached again at its new change_seq) or
        another encoder replaced the vector; either way the watermark must not move this run.
        """
        texts = [paper_text(paper.title, paper.abstract) for paper in batch]
        hashes = [text_hash(text) for text in texts]
        unchanged = [(paper.paper_id, paper.content_hash, digest)
                     for paper, digest in zip(batch, hashes, strict=True) if paper.stored_text_hash == digest]
        refreshed = self._store.refresh(report.model_id, unchanged) if unchanged else 0
        report.refreshed += refreshed
        to_embed = [(paper, text, digest) for paper, text, digest in zip(batch, texts, hashes, strict=True)
                    if paper.stored_text_hash != digest]
        if to_embed:
            self._embed_and_save(to_embed, report)
        return refreshed == len(unchanged)

    def _embed_and_save(self, to_embed: list[tuple[EmbeddingCandidate, str, str]],
                        report: EmbedReport) -> None:
        vectors = self._embedder.embed_documents([text for _, text, _ in to_embed])
        if len(vectors) != len(to_embed) or vectors.shape[1] != self._embedder.dimension:
            raise ValueError(f"encoder {report.model_id} returned vectors of shape {vectors.shape} "
                             f"for {len(to_embed)} texts of dimension {self._embedder.dimension}")
        rows = [(paper.paper_id, vector, paper.content_hash, digest)
                for (paper, _, digest), vector in zip(to_embed, vectors, strict=True)]
        # Fewer are saved when papers were deleted or changed meanwhile; a changed paper has a later
        # change_seq, so this run (or the next) reaches it again.
        report.embedded += self._store.save(report.model_id, rows)
