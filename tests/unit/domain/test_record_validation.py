"""Validation is the one gate before the database: what passes can be stored by either engine,
and whatever one record raises, only that record is rejected."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from papercast.domain.errors import InvalidInput, SourceError
from papercast.domain.ingest import Rejection, read_batches, validate_items
from papercast.domain.papers import (
    Author,
    ExternalSignal,
    PaperRecord,
    PaperVersion,
    clean_text,
    parse_paper_id,
    validate_record,
)

# Every C0 and C1 control character and DEL but tab and newline (which are whitespace).
CONTROLS = [chr(c) for c in (*range(0x00, 0x20), *range(0x7F, 0xA0)) if chr(c) not in "\t\n"]
TEXT_FIELDS = ("title", "abstract", "comments", "journal_ref", "doi", "report_no", "license")


def _record(**changes: object) -> PaperRecord:
    fields: dict[str, object] = {"paper_id": "2101.00001", "title": "A title", "source": "test"}
    fields.update(changes)
    return PaperRecord(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize("field", TEXT_FIELDS)
def test_control_characters_are_removed_from_every_text_field(field: str) -> None:
    for control in CONTROLS:
        record = validate_record(_record(**{field: f"ab{control}cd"}))
        value = getattr(record, field)
        assert value in ("abcd", "ab cd"), (field, repr(control), value)  # removed, or a space if whitespace
        assert value.isprintable()


def test_control_characters_are_removed_from_author_names() -> None:
    author = Author("Ada\x00 Love\x1b[31mlace", "Love\x1b[31mlace", "Ada\x00", "\x7f")
    record = validate_record(_record(authors=(author, Author("\x07\x08"), Author("Grace Hopper"))))
    assert record.authors == (Author("Ada Love[31mlace", "Love[31mlace", "Ada", ""), Author("Grace Hopper"))


@pytest.mark.parametrize("title", ["\x00\x07\x08\x7f", " \x1b \x9f ", "\t\n"])
def test_a_title_of_nothing_but_control_characters_is_missing(title: str) -> None:
    with pytest.raises(InvalidInput, match="missing title"):
        validate_record(_record(title=title))


@pytest.mark.parametrize("field", TEXT_FIELDS)
def test_a_lone_surrogate_is_rejected_naming_the_field(field: str) -> None:
    with pytest.raises(InvalidInput, match="lone UTF-16 surrogate") as error:
        validate_record(_record(**{field: "text \ud800 more"}))
    assert error.value.field == field
    assert str(error.value).encode("utf-8")  # the message itself can be printed


def test_a_lone_surrogate_in_an_author_name_is_rejected() -> None:
    with pytest.raises(InvalidInput, match="surrogate") as error:
        validate_record(_record(authors=(Author("Ada \udfff"),)))
    assert error.value.field == "authors"


def test_clean_text_leaves_clean_text_alone() -> None:
    assert clean_text("Attention Is All You Need") == "Attention Is All You Need"
    assert clean_text("naïve Bayes — 東京") == "naïve Bayes — 東京"


@pytest.mark.parametrize(("changes", "field"), [
    ({"versions": (PaperVersion(1, datetime(1, 1, 1, tzinfo=UTC)),)}, "versions"),
    ({"versions": (PaperVersion(1, datetime(9999, 12, 31, 23, tzinfo=timezone(timedelta(hours=-5)))),)},
     "versions"),
    ({"versions": (PaperVersion(1, datetime(999, 12, 31)),)}, "versions"),
    ({"versions": (PaperVersion(1, datetime(3000, 1, 1, tzinfo=UTC)),)}, "versions"),
    ({"announced_on": date(1, 1, 1)}, "announced_on"),
    ({"announced_on": date(9999, 12, 31)}, "announced_on"),
    ({"signal": ExternalSignal("hf-daily", observed_on=date(9999, 1, 1))}, "observed_on"),
])
def test_dates_out_of_range_are_rejected(changes: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInput, match="year") as error:
        validate_record(_record(**changes))
    assert error.value.field == field


def test_dates_in_range_are_kept_in_utc() -> None:
    moment = datetime(2999, 12, 31, 23, tzinfo=timezone(timedelta(hours=-5)))
    record = validate_record(_record(versions=(PaperVersion(1, moment),), announced_on=date(1000, 1, 1)))
    assert record.versions[0].submitted_at == moment and record.versions[0].submitted_at.tzinfo is UTC


@pytest.mark.parametrize("changes", [
    {"version": 10**5000}, {"version": 0}, {"version": -1}, {"versions": (PaperVersion(10**40),)},
])
def test_version_numbers_out_of_range_are_rejected_with_a_short_message(changes: dict[str, object]) -> None:
    with pytest.raises(InvalidInput, match="invalid version number") as error:
        validate_record(_record(**changes))
    assert len(str(error.value)) < 100


@pytest.mark.parametrize("signal", [
    ExternalSignal("hf-daily", upvotes=2**31), ExternalSignal("hf-daily", comments=-1),
    ExternalSignal("hf-daily", github_stars=10**30),
])
def test_counts_that_no_integer_column_holds_are_rejected(signal: ExternalSignal) -> None:
    with pytest.raises(InvalidInput, match="count out of range"):
        validate_record(_record(signal=signal))


@pytest.mark.parametrize("raw", [
    "２１０１.００００１", "2101.00001v２", "٢١٠١.٠٠٠٠١", "hep-th/９９０１００１", "2101.00001v" + "1" * 5000,
])
def test_only_ascii_digits_make_an_arxiv_id_or_version(raw: str) -> None:
    with pytest.raises(InvalidInput):
        parse_paper_id(raw)


def test_a_local_id_fits_the_id_column() -> None:
    longest = "a" * 16 + "-" + "b" * 63
    assert len(longest) == 80 and parse_paper_id(longest).paper_id == longest
    with pytest.raises(InvalidInput):
        parse_paper_id(longest + "b")


def test_one_record_that_fails_in_an_unforeseen_way_costs_only_that_record() -> None:
    items = [_record(paper_id="2101.00001"), _record(paper_id="2101.00002", title=b"bytes, not text"),
             _record(paper_id="2101.00003", location="line 3")]
    batch = validate_items(items, "test")
    assert [r.paper_id for r in batch.records] == ["2101.00001", "2101.00003"]
    (rejection,) = batch.rejections
    assert rejection.location == "record '2101.00002'"
    assert "AttributeError" in rejection.reason


def test_a_rejection_found_in_validation_names_where_the_source_read_the_record() -> None:
    batch = validate_items([_record(paper_id="2101.00002", title="", location="line 12")], "snap")
    assert batch.rejections == [Rejection("line 12", "2101.00002: title: missing title", "test")]


def test_rejections_are_safe_to_print() -> None:
    rejection = Rejection("line 1 (\x1b[2J)", "bad \ud800 and \x00 text")
    assert rejection.location == "line 1 (\\x1b[2J)"
    assert rejection.reason == "bad \\ud800 and \\x00 text"
    assert (rejection.location + rejection.reason).isprintable()


def test_batches_keep_the_items_read_before_a_failure() -> None:
    def items():  # type: ignore[no-untyped-def]
        yield from range(7)
        raise SourceError("damaged")

    batches = read_batches(items(), 3)
    assert next(batches) == [0, 1, 2]
    assert next(batches) == [3, 4, 5]
    assert next(batches) == [6]
    with pytest.raises(SourceError, match="damaged"):
        next(batches)
    assert list(read_batches(range(6), 3)) == [[0, 1, 2], [3, 4, 5]]
    assert list(read_batches([], 3)) == []
