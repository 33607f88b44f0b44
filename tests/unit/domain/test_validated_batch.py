"""Validated batches: validation into records and rejections, and the cheap form they travel in."""

from __future__ import annotations

import dataclasses
import pickle
import sys
from datetime import UTC, date, datetime

from papercast.domain.errors import InvalidInput, SourceError
from papercast.domain.ingest import Rejection, pack_record, unpack_record, validate_items
from papercast.domain.papers import Author, ExternalSignal, PaperRecord, PaperVersion, clean_text


def _full_record(paper_id: str = "2101.00001") -> PaperRecord:
    """A record with every field set to something other than its default."""
    return PaperRecord(
        paper_id=paper_id, title="A title", source="arxiv-snapshot", abstract="An abstract.",
        authors=(Author("Ada Lovelace", "Lovelace", "Ada"),
                 Author("John Smith, Jr.", "Smith", "John", "Jr.")),
        categories=("cs.LG", "stat.ML"), comments="12 pages", journal_ref="J. Foo 1 (2021)",
        doi="10.1000/xyz", report_no="REP-1", license="http://creativecommons.org/licenses/by/4.0/",
        withdrawn=True,
        versions=(PaperVersion(1, datetime(2021, 1, 2, 3, 4, 5, tzinfo=UTC)), PaperVersion(2, None)),
        version=2, announced_on=date(2021, 1, 4),
        signal=ExternalSignal("hf-daily", upvotes=3, comments=1, github_stars=5,
                              observed_on=date(2021, 1, 5)),
        location="line 7",
    )


def test_a_packed_record_comes_back_equal_with_every_field() -> None:
    record = _full_record()
    # Every field differs from its default, so a field that packing dropped would show.
    for field in dataclasses.fields(PaperRecord):
        if field.default is not dataclasses.MISSING:
            assert getattr(record, field.name) != field.default, field.name
    assert len(pack_record(record)) == len(dataclasses.fields(PaperRecord))
    assert unpack_record(pack_record(record)) == record
    bare = PaperRecord("2101.00002", "T", "s")
    assert unpack_record(pack_record(bare)) == bare


def test_a_batch_pickles_to_the_same_records_ids_and_rejections() -> None:
    items = [_full_record("2101.00001"), Rejection("line 2", "malformed JSON", "snap"),
             PaperRecord("2101.00003", "", "snap"), _full_record("arXiv:2101.00004v2")]
    batch = validate_items(items, "snap")
    assert [r.paper_id for r in batch.records] == ["2101.00001", "2101.00004"]
    assert [r.location for r in batch.rejections] == ["line 2", "record '2101.00003'"]
    assert "missing title" in batch.rejections[1].reason
    copy = pickle.loads(pickle.dumps(batch))
    assert copy.rejections == batch.rejections
    assert copy.records == batch.records
    # An unpickled batch travels again unchanged.
    assert pickle.loads(pickle.dumps(pickle.loads(pickle.dumps(batch)))).records == batch.records


def test_errors_keep_their_fields_through_pickling() -> None:
    invalid = pickle.loads(pickle.dumps(InvalidInput("too long", field="title", location="line 7")))
    assert (type(invalid), invalid.message, invalid.field, invalid.location) == (
        InvalidInput, "too long", "title", "line 7")
    assert str(invalid) == "line 7: title: too long"
    source = pickle.loads(pickle.dumps(SourceError("x.gz is damaged", code="damaged", body=b"<x/>")))
    assert (type(source), str(source), source.code, source.body) == (
        SourceError, "x.gz is damaged", "damaged", b"<x/>")


def test_clean_text_collapses_every_kind_of_whitespace() -> None:
    spaces = [chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace()]
    assert len(spaces) > 20
    for space in spaces:
        for text in (f"a{space}b", f"{space}a", f"a{space}", space, f"a {space}b", f"a{space}{space}b"):
            assert clean_text(text) == " ".join(text.split()), repr(text)
    assert clean_text("already clean text") == "already clean text"
    assert clean_text("  wrapped\n  at eighty columns ") == "wrapped at eighty columns"
    assert clean_text("") == "" and clean_text(None) == ""
