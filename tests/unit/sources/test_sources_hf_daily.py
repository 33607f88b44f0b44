"""The Hugging Face daily-papers parser, on a real 30-paper response of 2026-06-12."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from papercast.domain.errors import SourceError
from papercast.domain.ingest import Rejection
from papercast.domain.papers import ExternalSignal, PaperRecord, validate_record
from papercast.sources.hf_daily import HfDailyFileSource, parse_hf_daily


@pytest.fixture(scope="module")
def daily(hf_daily_file: Path) -> dict[str, PaperRecord]:
    items = list(HfDailyFileSource(hf_daily_file).items())
    assert len(items) == 30
    assert all(isinstance(i, PaperRecord) for i in items)
    return {r.paper_id: r for r in items}  # type: ignore[union-attr]


def test_most_upvoted_paper(daily: dict[str, PaperRecord]) -> None:
    top = max(daily.values(), key=lambda r: r.signal.upvotes if r.signal else 0)
    assert top.paper_id == "2606.13681"
    assert top.title.startswith("EvoArena: Tracking Memory Evolution for Robust LLM")
    assert len(top.authors) == 14
    assert top.signal == ExternalSignal(
        source="hf-daily", upvotes=118, comments=3, github_stars=9, observed_on=date(2026, 6, 12)
    )
    assert top.announced_on == date(2026, 6, 11)
    assert top.source == "hf-daily"


def test_fields_of_one_paper(daily: dict[str, PaperRecord]) -> None:
    msa = daily["2606.13392"]
    assert msa.title == "MiniMax Sparse Attention"
    assert msa.abstract.startswith("Ultra-long-context capability is becoming indispensable")
    assert [a.name for a in msa.authors][:2] == ["Xunhao Lai", "Weiqi Xu"]
    assert len(msa.authors) == 11
    assert msa.signal is not None
    assert (msa.signal.upvotes, msa.signal.comments, msa.signal.github_stars) == (103, 4, 251)
    # Hugging Face names no arXiv version: the record claims none.
    assert msa.version is None and msa.versions == ()


def test_papers_without_a_github_repo_have_no_star_count(daily: dict[str, PaperRecord]) -> None:
    first = daily["2606.00467"]
    assert first.signal is not None
    assert (first.signal.upvotes, first.signal.comments, first.signal.github_stars) == (0, 2, None)
    assert first.announced_on == date(2026, 5, 30)
    assert sum(1 for r in daily.values() if r.signal and r.signal.github_stars is None) == 14


def test_every_paper_validates(daily: dict[str, PaperRecord]) -> None:
    for record in daily.values():
        validate_record(record)
    assert all(r.signal and r.signal.observed_on == date(2026, 6, 12) for r in daily.values())


def test_entries_of_the_wrong_shape_are_located_rejections() -> None:
    data = json.dumps([
        {"paper": {"id": "2606.00001", "title": "Fine", "upvotes": 1}, "numComments": 0},
        {"title": "no paper object"},
        {"paper": {"title": "no id"}},
        {"paper": {"id": "2606.00004", "title": "T", "upvotes": "many"}},
        "just a string",
    ]).encode()
    fine, *rejections = parse_hf_daily(data)
    assert isinstance(fine, PaperRecord) and fine.signal and fine.signal.upvotes == 1
    assert [(r.location, r.source) for r in rejections if isinstance(r, Rejection)] == [
        ("item 2", "hf-daily"), ("item 3", "hf-daily"), ("item 4 (2606.00004)", "hf-daily"),
        ("item 5", "hf-daily"),
    ]
    assert "upvotes" in rejections[2].reason  # type: ignore[union-attr]


@pytest.mark.parametrize(("data", "message"), [
    (b'{"error": "Invalid date"}', "Hugging Face API error: Invalid date"),
    (b'{"papers": []}', "expected a JSON array, found a JSON object"),
    (b"<html><body>Bad gateway</body></html>", "not a JSON document (it looks like XML)"),
    (b'{"id": "a"}\n{"id": "b"}\n', "not a JSON document"),
])
def test_responses_that_are_not_a_paper_list(data: bytes, message: str) -> None:
    with pytest.raises(SourceError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_hf_daily(data)


def test_an_empty_day_is_an_empty_list() -> None:
    assert parse_hf_daily(b"[]") == []


def test_absurdly_nested_json_is_a_source_error() -> None:
    with pytest.raises(SourceError, match="not a JSON document"):
        parse_hf_daily(b"[" * 200_000)
