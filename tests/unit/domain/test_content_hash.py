"""The content hash is stored with every paper: a paper must keep its hash from release to release."""

from __future__ import annotations

from datetime import UTC, date, datetime

from papercast.domain.papers import Author, ExternalSignal, PaperRecord, PaperVersion, paper_from_record

# Computed by the code that stored the first catalogs (before content_hash was last optimised).
PINNED = "56e79d147dd11fdb3b723cf9e1f7616de53b677ec0712a75f82486de72afe35c"


def test_a_papers_hash_does_not_change_between_releases() -> None:
    # If this fails, every stored paper would look changed on the next ingest: keep the old hash.
    record = PaperRecord(
        paper_id="2101.00001", title="A title", source="arxiv-snapshot", abstract="An abstract.",
        authors=(Author("Ada Lovelace", "Lovelace", "Ada"),
                 Author("John Smith, Jr.", "Smith", "John", "Jr.")),
        categories=("cs.LG", "stat.ML"), comments="12 pages", journal_ref="J. Foo 1 (2021)",
        doi="10.1000/xyz", report_no="REP-1", license="CC BY 4.0", withdrawn=False,
        versions=(PaperVersion(1, datetime(2021, 1, 2, 3, 4, 5, tzinfo=UTC)), PaperVersion(2, None)),
        version=2,
        signal=ExternalSignal("hf-daily", upvotes=3, comments=1, github_stars=5,
                              observed_on=date(2021, 1, 5)),
    )
    paper = paper_from_record(record)
    assert paper.content_hash == PINNED
