"""The merge rule: versions only move forward, re-runs change nothing, withdrawal is a flag."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from papercast.domain.errors import InvalidInput
from papercast.domain.papers import (
    MAX_TITLE_LENGTH,
    Author,
    ExternalSignal,
    Outcome,
    PaperRecord,
    PaperVersion,
    merge,
    paper_from_record,
    parse_author_list,
    validate_record,
)


def _record(version: int, **fields: object) -> PaperRecord:
    versions = tuple(
        PaperVersion(n, datetime(2020, n, 1, tzinfo=UTC)) for n in range(1, version + 1)
    )
    base: dict[str, object] = {
        "paper_id": "2001.00001", "title": f"Title v{version}", "source": "arxiv-snapshot",
        "abstract": "An abstract.", "versions": versions, "version": version,
        "categories": ("cs.LG", "stat.ML"),
    }
    base.update(fields)
    return validate_record(PaperRecord(**base))  # type: ignore[arg-type]


def test_newer_version_updates_and_keeps_history() -> None:
    stored = paper_from_record(_record(1))
    outcome, merged = merge(stored, _record(2))
    assert outcome is Outcome.UPDATED
    assert merged.title == "Title v2"
    assert [v.number for v in merged.versions] == [1, 2]
    assert merged.latest_version == 2
    assert merged.announced_on == date(2020, 1, 1)
    assert merged.content_hash != stored.content_hash


def test_older_version_after_newer_changes_nothing() -> None:
    stored = paper_from_record(_record(3))
    outcome, merged = merge(stored, _record(1, title="Old title"))
    assert outcome is Outcome.UNCHANGED
    assert merged == stored


def test_same_record_twice_is_unchanged() -> None:
    stored = paper_from_record(_record(2))
    assert merge(stored, _record(2)) == (Outcome.UNCHANGED, stored)


def test_versionless_source_only_fills_gaps_and_adds_its_signal() -> None:
    stored = paper_from_record(_record(2, authors=()))
    hf = validate_record(PaperRecord(
        paper_id="2001.00001", title="A different title from HF", source="hf-daily",
        authors=(Author("Ada Lovelace", "Lovelace", "Ada"),),
        signal=ExternalSignal("hf-daily", upvotes=42, comments=3, observed_on=date(2026, 6, 12)),
    ))
    outcome, merged = merge(stored, hf)
    assert outcome is Outcome.UPDATED
    assert merged.title == "Title v2"  # the versioned source keeps authority over the title
    assert merged.authors == hf.authors  # but a missing field is filled
    assert merged.sources == ("arxiv-snapshot", "hf-daily")
    assert merged.signals[0].upvotes == 42
    assert merge(merged, hf) == (Outcome.UNCHANGED, merged)


def test_withdrawal_is_a_flag_that_keeps_the_metadata() -> None:
    stored = paper_from_record(_record(1))
    withdrawn = _record(2, withdrawn=True, abstract="", comments="This paper has been withdrawn")
    outcome, merged = merge(stored, withdrawn)
    assert outcome is Outcome.UPDATED
    assert merged.withdrawn
    assert merged.abstract == "An abstract."
    assert merged.latest_version == 2


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"title": "   "}, "title"),
        ({"title": "x" * (MAX_TITLE_LENGTH + 1)}, "title"),
        ({"abstract": "y" * 30_000}, "abstract"),
        ({"categories": ("cs.LG; DROP TABLE papers",)}, "categories"),
        ({"paper_id": "not an id"}, "id"),
    ],
)
def test_invalid_records_name_the_field(fields: dict[str, object], field: str) -> None:
    base: dict[str, object] = {"paper_id": "2001.00001", "title": "T", "source": "test"}
    base.update(fields)
    with pytest.raises(InvalidInput) as caught:
        validate_record(PaperRecord(**base))  # type: ignore[arg-type]
    assert caught.value.field == field


def test_author_lists_are_split_in_order_without_affiliations() -> None:
    authors = parse_author_list("Jacob Devlin, Ming-Wei Chang, Kenton Lee, and Kristina Toutanova")
    assert [a.name for a in authors] == ["Jacob Devlin", "Ming-Wei Chang", "Kenton Lee", "Kristina Toutanova"]
    assert authors[0].last == "Devlin"
    nash = parse_author_list("Patrick L. Nash (University of Texas at San Antonio)")
    assert [a.name for a in nash] == ["Patrick L. Nash"]
    assert [a.name for a in parse_author_list("Salman Habib and Robert D. Ryne")] == [
        "Salman Habib", "Robert D. Ryne"]
