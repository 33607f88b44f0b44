"""A small catalog for digest tests: papers announced on known days, on known topics, some with
Hugging Face upvotes (trending), indexed; and confirmed subscribers imported in bulk."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from email import message_from_string, policy
from email.message import EmailMessage

from sqlalchemy import select

from papercast.bootstrap import Papercast
from papercast.domain.papers import Author, ExternalSignal, PaperRecord
from papercast.domain.subscriber_imports import ImportedSubscriber
from papercast.domain.subscriptions import Frequency, Preferences, Subscriber
from papercast.storage.tables import mail_outbox

BASE = "https://papers.example.org"
DAY = date(2026, 12, 3)  # a Thursday: arXiv announced these at 00:00 UTC


def catalog() -> list[PaperRecord]:
    def paper(number: int, title: str, abstract: str, category: str, *, on: date = DAY,
              upvotes: int = 0) -> PaperRecord:
        return PaperRecord(
            paper_id=f"2612.{number:05d}", title=title, abstract=abstract, source="test",
            authors=(Author("Ana Moraz\\'an"), Author("Bo Li")), categories=(category,), announced_on=on,
            signal=ExternalSignal("hf-daily", upvotes=upvotes) if upvotes else None)

    return [
        paper(1, "Diffusion models for protein design", "We train a diffusion model on $\\alpha$-helices "
              "and show $O(n^2)$ sampling. " + "Long text. " * 60, "q-bio.BM", upvotes=40),
        paper(2, "Graph neural networks at scale", "Message passing on $10^9$ edges.", "cs.LG", upvotes=12),
        paper(3, "A survey of diffusion samplers", "Samplers for diffusion models, compared.", "cs.LG"),
        paper(4, "Quantum error correction with surface codes", "Surface codes below threshold.", "quant-ph"),
        paper(5, "Old diffusion paper", "Diffusion models before the period.", "cs.LG",
              on=date(2026, 12, 1), upvotes=90),
        paper(6, "Topological order in graph states", "Graph states and topology.", "quant-ph",
              on=date(2026, 12, 4)),
        paper(7, "Diffusion on graphs, the next day", "Heat diffusion on graph states.", "cs.LG",
              on=date(2026, 12, 4)),
    ]


def load_catalog(papercast: Papercast, records: Sequence[PaperRecord] | None = None) -> None:
    papercast.ingest.ingest(records or catalog(), "test")
    papercast.index_follower().catch_up()


def import_subscribers(papercast: Papercast, rows: Sequence[tuple[str, Preferences]]) -> list[Subscriber]:
    """Confirmed subscribers (as an operator's import makes them), in the order given."""
    imported = [ImportedSubscriber(f"line {n}", email, "", preferences, datetime(2026, 1, 1, tzinfo=UTC))
                for n, (email, preferences) in enumerate(rows, start=1)]
    report = papercast.subscriptions().import_subscribers(imported)
    assert not report.rejections, report.rejections
    by_email = {subscriber.email: subscriber for subscriber in papercast.subscriptions().list()}
    return [by_email[email] for email, _ in rows]


def daily(*topics: str, hour: int = 8, zone: str = "UTC") -> Preferences:
    return Preferences(tuple(topics), Frequency.DAILY, hour, zone)


def outbox_messages(papercast: Papercast) -> dict[str, EmailMessage]:
    """The queued digests by recipient, parsed."""
    with papercast.engine.connect() as connection:
        rows = connection.execute(select(mail_outbox.c.recipient, mail_outbox.c.message)
                                  .where(mail_outbox.c.kind == "digest")).all()
    return {row[0]: message_from_string(row[1], policy=policy.default) for row in rows}  # type: ignore[misc]


def text_of(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())
