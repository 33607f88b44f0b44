"""Cranfield and CISI loaded from their original files into papers and judged queries."""

from __future__ import annotations

from pathlib import Path

import pytest

from papercast.domain.errors import InvalidInput
from papercast.domain.papers import validate_record
from papercast.sources.ir_benchmarks import load_collection, read_tagged


@pytest.fixture(scope="module")
def benchmarks(shared_data: Path) -> Path:
    return shared_data / "fixtures" / "ir-benchmarks"


def test_cranfield(benchmarks: Path) -> None:
    cranfield = load_collection("cranfield", benchmarks / "cranfield")
    assert len(cranfield.records) == 1400
    first = cranfield.records[0]
    assert first.paper_id == "cran-1"
    assert first.title.startswith("experimental investigation of the aerodynamics")
    assert first.abstract.startswith("an experimental study")  # the repeated title is dropped
    assert [a.name for a in first.authors] == ["m. brenckman"]
    assert all(validate_record(record) for record in cranfield.records)
    # 225 queries mapped by position; grades 1 (best) .. 4 become 4 .. 1, and -1 rows are dropped.
    assert len(cranfield.queries) == 225
    q1 = cranfield.queries[0]
    assert q1.qid == "cran-q001" and q1.query.startswith("what similarity laws")
    assert q1.relevant["cran-184"] == 3 and q1.relevant["cran-13"] == 1
    assert "cran-486" not in cranfield.queries[0].relevant
    assert all(1 <= grade <= 4 for q in cranfield.queries for grade in q.relevant.values())


def test_cisi(benchmarks: Path) -> None:
    cisi = load_collection("cisi", benchmarks / "cisi")
    assert len(cisi.records) == 1460
    assert cisi.records[0].title == "18 Editions of the Dewey Decimal Classifications"
    assert [a.name for a in cisi.records[0].authors] == ["J.P. Comaromi"]
    assert len(cisi.queries) == 76
    assert sum(len(q.relevant) for q in cisi.queries) == 3114
    assert cisi.queries[0].as_dict()["relevant"]["cisi-28"] == 1


def test_tagged_reader_joins_repeated_fields() -> None:
    text = ".I 1\n.T\nA title\n.A\nOne, A.\n.A\nTwo, B.\n.W\nline one\nline two\n.I 2\n.T\nX\n"
    assert list(read_tagged(text)) == [
        (1, {"T": "A title", "A": "One, A.\nTwo, B.", "W": "line one\nline two"}), (2, {"T": "X"})]


def test_unknown_collection(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput):
        load_collection("trec", tmp_path)
    with pytest.raises(InvalidInput):
        load_collection("cisi", tmp_path)
