"""A small catalog for recommendation tests: eight papers on each of three distinct topics, in
its own category each, announced one a day back from today, with vectors of the hashing encoder
(and, asked for, the keyword index that followed topics read)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path

from papercast.bootstrap import Papercast, build
from papercast.domain.papers import PaperRecord
from papercast.settings import Settings
from support.clock import ManualClock

TOPICS = {
    "graph": ("cs.LG", "graph neural networks message passing node embeddings over graph structure"),
    "protein": ("q-bio.BM", "protein folding structure prediction amino acid sequences molecular biology"),
    "galaxy": ("astro-ph.GA", "galaxy formation dark matter halos cosmological simulations early universe"),
}
PAPERS_PER_TOPIC = 8


def paper(topic: str, number: int) -> str:
    """The id of a topic's `number`th paper (1 to 8; paper 1 is the newest)."""
    return f"2612.{list(TOPICS).index(topic)}{number:04d}"


def topic_records(today: date) -> list[PaperRecord]:
    return [PaperRecord(paper_id=paper(topic, number), source="test", title=f"{topic.title()} study {number}",
                        abstract=f"{words} variant {number} " * 3, categories=(category,),
                        announced_on=today - timedelta(days=number))
            for topic, (category, words) in TOPICS.items() for number in range(1, PAPERS_PER_TOPIC + 1)]


@contextmanager
def recommendation_site(database_url: str, tmp_path: Path, clock: ManualClock, *,
                        indexed: bool = False) -> Iterator[Papercast]:
    """papercast over the topic catalog, embedded (and keyword-indexed when `indexed`), without
    vote rate limits; closed after."""
    settings = Settings.load(env={}, data_dir=tmp_path, database_url=database_url, embedding_model="hashing",
                             votes_per_account_per_minute=0, votes_per_address_per_minute=0)
    papercast = build(settings, clock)
    try:
        records = topic_records(clock.now().date())
        assert papercast.ingest.ingest(records).new == len(records)
        papercast.embedding_service().catch_up(batch_size=64)
        if indexed:
            papercast.index_follower().catch_up()
        yield papercast
    finally:
        papercast.close()
