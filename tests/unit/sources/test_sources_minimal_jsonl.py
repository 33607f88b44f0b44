"""Minimal JSON lines (`{"id", "title", "abstract"}`), on the real 236-paper seed corpus."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from papercast.domain.errors import SourceError
from papercast.domain.ingest import Rejection
from papercast.domain.papers import PaperRecord, validate_record
from papercast.sources import json_lines
from papercast.sources.minimal_jsonl import MinimalJsonlSource


def _write(path: Path, *lines: str) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_seed_corpus_is_read_whole(shared_data: Path) -> None:
    items = list(MinimalJsonlSource(shared_data / "seed-papers.jsonl").items())
    assert len(items) == 236
    assert all(isinstance(i, PaperRecord) for i in items)
    first, last = items[0], items[-1]
    assert first.paper_id == "seed-001"  # type: ignore[union-attr]
    assert first.title.startswith("Composing Global Optimizers to Reasoning Tasks")  # type: ignore[union-attr]
    assert first.abstract.startswith("We prove rich algebraic structures")  # type: ignore[union-attr]
    assert last.paper_id == "seed-236"  # type: ignore[union-attr]
    assert last.title == "Memory-Efficient Differentiable Transformer Architecture Search"  # type: ignore[union-attr]
    assert all(r.authors == () and r.versions == () and r.source == "jsonl" for r in items)  # type: ignore[union-attr]
    for record in items:
        validate_record(record)  # type: ignore[arg-type]


def test_optional_authors_and_categories_as_string_or_list(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "p.jsonl",
        json.dumps({"id": "lab-1", "title": "T", "abstract": "A", "authors": "Ada Lovelace and Alan Turing",
                    "categories": "cs.LG stat.ML"}),
        json.dumps({"id": "lab-2", "title": "T", "abstract": "A", "authors": ["Grace Hopper", " "],
                    "categories": ["cs.PL"], "doi": "10.1/x", "journal-ref": "J. 1 (2020)"}),
    )
    one, two = MinimalJsonlSource(path, name="lab").items()
    assert isinstance(one, PaperRecord) and isinstance(two, PaperRecord)
    assert [a.name for a in one.authors] == ["Ada Lovelace", "Alan Turing"]
    assert one.categories == ("cs.LG", "stat.ML")
    assert [a.name for a in two.authors] == ["Grace Hopper"]
    assert two.categories == ("cs.PL",)
    assert (two.doi, two.journal_ref) == ("10.1/x", "J. 1 (2020)")
    assert one.source == two.source == "lab"


def test_bad_lines_are_rejected_by_number_and_good_ones_kept(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "mixed.jsonl",
        json.dumps({"id": "seed-900", "title": "A good paper", "abstract": "Fine."}),
        '{"id": "seed-901", "title": "broken',
        json.dumps({"title": "no id"}),
        "42",
        json.dumps({"id": "seed-902", "title": "T", "authors": {"name": "x"}}),
        "",
        json.dumps({"id": "seed-903", "title": "Another good one"}),
    )
    source = MinimalJsonlSource(path)
    items = list(source.items())
    assert [i.paper_id for i in items if isinstance(i, PaperRecord)] == ["seed-900", "seed-903"]
    rejections = {r.location: r.reason for r in items if isinstance(r, Rejection)}
    assert set(rejections) == {"line 2", "line 3", "line 4", "line 5"}
    assert rejections["line 2"].startswith("malformed JSON")
    assert "missing id" in rejections["line 3"]
    assert "JSON object" in rejections["line 4"]
    assert rejections["line 5"].startswith("seed-902: ") and "authors" in rejections["line 5"]
    assert all(r.source == "jsonl" for r in items if isinstance(r, Rejection))


def test_xml_given_as_json_lines_fails_once_not_per_line(shared_data: Path) -> None:
    oai = shared_data / "fixtures/arxiv-oai-pmh/inveniosoftware-invenio-oaiharvester"
    path = oai / "sample_arxiv_response_listrecords_physics.xml"
    with pytest.raises(SourceError, match="is not a JSON-lines paper file: its first line is XML") as error:
        list(MinimalJsonlSource(path).items())
    assert str(path) in str(error.value)


def test_first_line_without_any_paper_field_is_the_wrong_format(shared_data: Path) -> None:
    with pytest.raises(SourceError, match="none of the fields id, title, abstract"):
        list(MinimalJsonlSource(shared_data / "dev-queries.jsonl").items())


def test_an_overlong_line_is_rejected_without_holding_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(json_lines, "MAX_LINE_BYTES", 200)
    monkeypatch.setattr(json_lines, "_SKIP_CHUNK", 64)
    path = _write(
        tmp_path / "long.jsonl",
        json.dumps({"id": "seed-1", "title": "Short"}),
        json.dumps({"id": "seed-2", "title": "x" * 5000}),
        json.dumps({"id": "seed-3", "title": "Short again"}),
    )
    first, rejection, third = MinimalJsonlSource(path).items()
    assert rejection == Rejection("line 2", "line is over 200 bytes long", "jsonl")
    assert (first.paper_id, third.paper_id) == ("seed-1", "seed-3")  # type: ignore[union-attr]


def test_absurdly_nested_json_is_one_rejected_line(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "nested.jsonl",
        json.dumps({"id": "seed-1", "title": "Fine"}),
        '{"id": "seed-2", "title": ' + "[" * 200_000,
        json.dumps({"id": "seed-3", "title": "Fine too"}),
    )
    first, rejection, third = MinimalJsonlSource(path).items()
    assert isinstance(rejection, Rejection) and rejection.location == "line 2"
    assert rejection.reason.startswith("malformed JSON")
    assert (first.paper_id, third.paper_id) == ("seed-1", "seed-3")  # type: ignore[union-attr]
