"""The catalog of the web tests: a hostile paper, one full of LaTeX, an old-style id, a local id
without a date, and enough filler papers to page through."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from papercast.bootstrap import Papercast, build
from papercast.clock import Clock
from papercast.domain.papers import Author, PaperRecord, PaperVersion
from papercast.settings import Settings

HOSTILE_ID = "2101.00001"
HOSTILE_TITLE = "<script>alert(1)</script>"
HOSTILE_ABSTRACT = "<img src=x onerror=alert(1)> plus broken LaTeX like $\\frac{1}{ that never closes"
HOSTILE_AUTHOR = "Eve <b>Mallory</b>"
MATH_ID = "2101.00002"
MATH_TITLE = "Sparse $\\frac{\\ell_1}{\\ell_2}$ recovery with SL$^{2}$A-INR"
OLD_STYLE_ID = "hep-th/9901001"
LOCAL_ID = "seed-001"
FILLER_COUNT = 25
PAGE_SIZE = 10


def _when(year: int, month: int, day: int) -> datetime:
    return datetime(year, month, day, 12, 0, tzinfo=UTC)


def corpus() -> list[PaperRecord]:
    ada, alan = Author("Ada Lovelace", "Lovelace", "Ada"), Author("Alan Turing", "Turing", "Alan")
    records = [
        PaperRecord(paper_id=HOSTILE_ID, title=HOSTILE_TITLE, abstract=HOSTILE_ABSTRACT, source="test",
                    authors=(ada, Author(HOSTILE_AUTHOR, "Mallory", "Eve")), categories=("cs.LG",),
                    versions=(PaperVersion(1, _when(2021, 1, 4)),), version=1),
        PaperRecord(paper_id=MATH_ID, title=MATH_TITLE, source="test",
                    abstract="We bound $x^2 + y^2 \\le 1$ and cost $5 or $10 per \\emph{a priori} run.",
                    authors=(ada, alan), categories=("cs.LG", "stat.ML"), comments="12 pages",
                    doi="10.1000/xyz",
                    versions=(PaperVersion(1, _when(2021, 1, 5)), PaperVersion(2, _when(2021, 2, 1))),
                    version=2),
        PaperRecord(paper_id=OLD_STYLE_ID, title="String Junctions and Their Duals", source="test",
                    abstract="Heterotic strings on $T^2$.", authors=(Author("Yosuke Imamura"),),
                    categories=("hep-th",), versions=(PaperVersion(1, _when(1999, 1, 1)),), version=1),
        PaperRecord(paper_id=LOCAL_ID, title="A local paper without a date", source="test",
                    abstract="No arXiv id here.", authors=(alan,), categories=("cs.AI",)),
    ]
    for number in range(1, FILLER_COUNT + 1):
        records.append(PaperRecord(
            paper_id=f"2102.{number:05d}", title=f"Filler paper number {number} on vision", source="test",
            abstract=f"Convolutional vision model {number}.", authors=(Author("Grace Hopper"),),
            categories=("cs.CV",), versions=(PaperVersion(1, _when(2021, 2, 1 + number % 27)),), version=1))
    return records


def make_papercast(database_url: str, tmp_path: Path, clock: Clock | None = None, *, ingest: bool = True,
                   **settings: Any) -> Papercast:
    """Papercast on `database_url` with the test corpus (`ingest`: another process on a database
    that has it already does not ingest it again)."""
    values = {"web_rate_limit_per_minute": 0, "web_page_size": PAGE_SIZE, **settings}
    papercast = build(Settings.load(env={}, data_dir=tmp_path, database_url=database_url, **values), clock)
    if not ingest:
        return papercast
    report = papercast.ingest.ingest(corpus(), "test")
    assert report.rejected == 0, report.rejections
    return papercast
