"""The arXiv snapshot (JSON lines) parser, on the 1,191 real records of `arxiv-abs-sample.jsonl`."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from papercast.domain.errors import InvalidInput, SourceError
from papercast.domain.ingest import Rejection
from papercast.domain.papers import PaperRecord, author_from_parts, validate_record
from papercast.sources.snapshot_jsonl import SnapshotJsonlSource, authors_from_parsed, record_from_snapshot

WITHDRAWN_IN_SAMPLE = {
    "0704.0156", "0704.0213", "0704.0374", "0704.0480", "0704.0525",
    "0704.0615", "0704.0644", "0704.0840", "0906.3336", "2101.10016",
}


@pytest.fixture(scope="module")
def sample(shared_data: Path) -> list[PaperRecord]:
    items = list(SnapshotJsonlSource(shared_data / "arxiv-abs-sample.jsonl").items())
    assert not [i for i in items if isinstance(i, Rejection)]
    return items  # type: ignore[return-value]


def _line(**fields: object) -> str:
    base: dict[str, object] = {
        "id": "2101.00001", "title": "A title", "abstract": "An abstract.", "authors": "A. Author",
        "categories": "cs.LG stat.ML",
        "versions": [{"version": "v1", "created": "Fri, 1 Jan 2021 10:00:00 GMT"}],
    }
    base.update(fields)
    return json.dumps(base)


def _write(path: Path, *lines: str) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_every_sample_line_is_a_valid_record(sample: list[PaperRecord]) -> None:
    assert len(sample) == 1191
    assert len({r.paper_id for r in sample}) == 1130
    assert all(r.source == "arxiv-snapshot" for r in sample)
    for record in sample:
        validate_record(record)


def test_first_record_is_read_field_by_field(sample: list[PaperRecord]) -> None:
    record = sample[0]
    assert record.paper_id == "acc-phys/9411001"
    assert record.title == "Symplectic Computation of Lyapunov Exponents"
    assert [a.name for a in record.authors] == ["Salman Habib", "Robert D. Ryne"]
    assert record.categories == ("acc-phys", "physics.acc-ph")
    assert record.report_no == "LA-UR-94-3641"
    assert record.comments == "12 pages, uuencoded PostScript (figures included)"
    assert record.journal_ref == record.doi == record.license == ""
    assert record.versions[0].number == 1
    assert record.versions[0].submitted_at == datetime(1994, 11, 1, 18, 57, 48, tzinfo=UTC)
    assert record.version == 1
    assert record.announced_on is None
    assert not record.withdrawn


def test_version_histories_and_the_described_version(sample: list[PaperRecord]) -> None:
    bert = next(r for r in sample if r.paper_id == "1810.04805")
    assert bert.title.startswith("BERT")
    assert [a.name for a in bert.authors][:2] == ["Jacob Devlin", "Ming-Wei Chang"]
    assert [v.number for v in bert.versions] == [1, 2]
    assert bert.version == 2
    hep = [r for r in sample if r.paper_id == "hep-th/9901001"]
    assert max(len(r.versions) for r in hep) == 3
    # Older versions are repeated in the sample (its orig/ folder): each record describes its own.
    assert sorted(r.version for r in sample if r.paper_id == "0704.0615") == [1, 2, 3, 3, 4]
    assert all(v.submitted_at and v.submitted_at.tzinfo is UTC for r in sample for v in r.versions)


def test_old_style_ids_keep_their_archive(sample: list[PaperRecord]) -> None:
    old = [r.paper_id for r in sample if "/" in r.paper_id]
    assert len(old) == 96
    assert "acc-phys/9411002" in old and "hep-th/9901001" in old


def test_withdrawn_papers_are_flagged_from_their_comments(sample: list[PaperRecord]) -> None:
    assert {r.paper_id for r in sample if r.withdrawn} == WITHDRAWN_IN_SAMPLE
    # 0704.0615 was withdrawn in v3 ("This papers has been withdrawn"), then replaced by a v4.
    by_version = {r.version: r.withdrawn for r in sample if r.paper_id == "0704.0615"}
    assert by_version == {1: False, 2: False, 3: True, 4: False}
    # "withdrawn by arXiv administrators due to plagiarism" and "paper withdrawn by author".
    assert next(r for r in sample if r.paper_id == "0704.0525").withdrawn
    assert next(r for r in sample if r.paper_id == "0704.0480").withdrawn


def test_authors_parsed_is_preferred_to_the_author_string(tmp_path: Path) -> None:
    path = _write(tmp_path / "s.jsonl", _line(
        authors="Wrong Name and Other Person",
        authors_parsed=[["Smith", "John A.", ""], ["Doe", "Jane", "Jr"], ["ATLAS Collaboration", "", ""]],
    ))
    (record,) = SnapshotJsonlSource(path).items()
    assert isinstance(record, PaperRecord)
    assert [a.name for a in record.authors] == ["John A. Smith", "Jane Doe, Jr", "ATLAS Collaboration"]
    assert record.authors[1].suffix == "Jr"
    assert record.authors[0].last == "Smith" and record.authors[0].first == "John A."


@pytest.mark.parametrize("parts", [
    ["Smith", "John", ""], ["de la Cruz", "María José", ""], ["Doe", "J.", "III"], ["Solo", "", ""],
    ["  Spaced ", " Out  Name", ""], ["Tab\tbed", "New\nLine", " Jr "], ["", "", ""], ["Only", "", "Jr"],
    ["Wübben", "Dirk", ""], ["Nbsp\u00a0Name", "A.", ""], ["Pipe|Name", "B.", ""],
])
def test_fast_author_path_matches_the_domain_rule(parts: list[str]) -> None:
    expected = author_from_parts(*parts)
    assert authors_from_parsed([parts]) == ((expected,) if expected.name else ())


def test_author_string_is_split_when_authors_parsed_is_absent(tmp_path: Path) -> None:
    path = _write(tmp_path / "s.jsonl", _line(authors="Han He, Huaning Wang and C. Wu (MIT)"))
    (record,) = SnapshotJsonlSource(path).items()
    assert [a.name for a in record.authors] == ["Han He", "Huaning Wang", "C. Wu"]  # type: ignore[union-attr]


def test_gzip_snapshot_streams_the_same_records(shared_data: Path, tmp_path: Path) -> None:
    plain = shared_data / "arxiv-abs-sample.jsonl"
    packed = tmp_path / "snapshot.json.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    assert list(SnapshotJsonlSource(packed).items()) == list(SnapshotJsonlSource(plain).items())


def test_items_are_yielded_before_a_truncated_gzip_fails(shared_data: Path, tmp_path: Path) -> None:
    data = gzip.compress((shared_data / "arxiv-abs-sample.jsonl").read_bytes())
    truncated = tmp_path / "cut.jsonl.gz"
    truncated.write_bytes(data[: len(data) // 2])
    seen = []
    with pytest.raises(SourceError, match="truncated gzip") as error:
        for item in SnapshotJsonlSource(truncated).items():
            seen.append(item)
    assert len(seen) > 300  # streamed: half the file arrived before the damage was found
    assert str(truncated) in str(error.value)


def test_malformed_line_is_rejected_by_number_and_its_neighbours_kept(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "s.jsonl",
        _line(id="2101.00001"),
        '{"id": "2101.00002", "title": "cut off',
        "",
        _line(id="2101.00003"),
    )
    items = list(SnapshotJsonlSource(path).items())
    assert [getattr(i, "paper_id", None) for i in items] == ["2101.00001", None, "2101.00003"]
    rejection = items[1]
    assert isinstance(rejection, Rejection)
    assert rejection.location == "line 2"
    assert rejection.reason.startswith("malformed JSON: ")
    assert rejection.source == "arxiv-snapshot"


@pytest.mark.parametrize(("line", "reason"), [
    (json.dumps({"title": "no id", "abstract": "x"}), "missing id"),
    (json.dumps({"id": 12345, "title": "numeric id"}), "id is not a string"),
    (json.dumps(["a", "list"]), "expected a JSON object"),
    (_line(title=["not", "a", "string"]), "title"),
    (_line(versions=[{"version": "v1", "created": "yesterday-ish"}]), "invalid date"),
    (_line(versions=[{"created": "Fri, 1 Jan 2021 10:00:00 GMT"}]), "versions"),
    (_line(versions="v1"), "versions"),
    (_line(authors_parsed=[["Smith", 3, ""]]), "authors_parsed"),
    (_line(categories={"primary": "cs.LG"}), "categories"),
])
def test_records_of_the_wrong_shape_become_located_rejections(tmp_path: Path, line: str, reason: str) -> None:
    path = _write(tmp_path / "s.jsonl", _line(id="2101.00001"), line)
    first, second = SnapshotJsonlSource(path).items()
    assert isinstance(first, PaperRecord)
    assert isinstance(second, Rejection)
    assert second.location == "line 2"
    assert reason in second.reason


def test_rejection_names_the_id_when_there_is_one(tmp_path: Path) -> None:
    path = _write(tmp_path / "s.jsonl", _line(id="2101.00009", doi=10))
    (rejection,) = SnapshotJsonlSource(path).items()
    assert isinstance(rejection, Rejection)
    assert rejection.reason.startswith("2101.00009: ")
    assert "doi" in rejection.reason


def test_record_from_snapshot_raises_with_the_field() -> None:
    with pytest.raises(InvalidInput) as error:
        record_from_snapshot({"id": "2101.00001", "title": "t", "comments": 3}, "x")
    assert error.value.field == "comments"
    with pytest.raises(InvalidInput) as error:
        record_from_snapshot({"title": "t"}, "x")
    assert error.value.field == "id"


def test_record_from_snapshot_marks_a_withdrawal() -> None:
    record = record_from_snapshot(
        json.loads(_line(comments="This paper has been withdrawn by the author due to an error")), "x"
    )
    assert record.withdrawn and record.source == "x"


@pytest.mark.parametrize(("content", "found"), [
    (b"<?xml version='1.0'?>\n<feed xmlns='http://www.w3.org/2005/Atom'></feed>\n", "XML"),
    (b'[{"paper": {"id": "2606.00467"}}]\n', "JSON array"),
    (b'{"url": "https://export.arxiv.org/api/query", "status_code": 200, "body": "<feed/>"}\n',
     "recorded HTTP response"),
    (b"id,title\n2101.00001,CSV\n", "not a JSON object"),
])
def test_a_file_of_another_format_is_one_clear_error(tmp_path: Path, content: bytes, found: str) -> None:
    path = tmp_path / "other.jsonl"
    path.write_bytes(content)
    with pytest.raises(SourceError, match=found) as error:
        list(SnapshotJsonlSource(path).items())
    assert str(path) in str(error.value)
    assert "arXiv metadata snapshot" in str(error.value)
    assert error.value.code == "wrong-format"


def test_a_missing_file_is_a_source_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="cannot read"):
        list(SnapshotJsonlSource(tmp_path / "nope.jsonl").items())


def test_odd_version_labels_are_rejections_not_crashes(tmp_path: Path) -> None:
    path = _write(tmp_path / "s.jsonl", _line(versions=[{"version": "v\u00b2", "created": None}]))
    (rejection,) = SnapshotJsonlSource(path).items()
    assert isinstance(rejection, Rejection) and "invalid version label" in rejection.reason
