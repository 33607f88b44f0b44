"""Format detection and `open_source`: every real fixture is recognised, mismatches are clear errors."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from papercast.domain.errors import InvalidInput, SourceError
from papercast.domain.papers import PaperRecord
from papercast.sources.arxiv_api import ArxivApiFileSource
from papercast.sources.arxiv_oai import OaiFileSource
from papercast.sources.arxiv_rss import ArxivRssFileSource
from papercast.sources.detect import FORMATS, detect_format, open_source
from papercast.sources.hf_daily import HfDailyFileSource
from papercast.sources.minimal_jsonl import MinimalJsonlSource
from papercast.sources.snapshot_jsonl import SnapshotJsonlSource

FOLDER_FORMATS = {
    "arxiv-api-atom": "arxiv-api",
    "arxiv-oai-pmh": "oai-pmh",
    "arxiv-rss": "rss",
    "hf-daily-papers": "hf-daily",
}


def _fixture_files(fixtures: Path) -> list[tuple[Path, str]]:
    return [
        (path, fmt)
        for folder, fmt in FOLDER_FORMATS.items()
        for path in sorted((fixtures / folder).rglob("*"))
        if path.is_file()
    ]


def test_every_recorded_fixture_is_detected(fixtures: Path) -> None:
    files = _fixture_files(fixtures)
    assert len(files) == 45  # 25 API, 15 OAI-PMH, 4 RSS, 1 Hugging Face
    assert {path.name: detect_format(path) for path, _ in files} == {path.name: fmt for path, fmt in files}


def test_json_lines_files_are_told_apart(shared_data: Path, tmp_path: Path) -> None:
    assert detect_format(shared_data / "arxiv-abs-sample.jsonl") == "snapshot"
    assert detect_format(shared_data / "seed-papers.jsonl") == "jsonl"
    packed = tmp_path / "arxiv-metadata-oai-snapshot.json.gz"
    packed.write_bytes(gzip.compress((shared_data / "arxiv-abs-sample.jsonl").read_bytes()))
    assert detect_format(packed) == "snapshot"


def test_a_first_record_longer_than_the_sniffed_head(tmp_path: Path) -> None:
    path = tmp_path / "huge.jsonl"
    big = {"id": "1234.5678", "title": "Big collaboration", "authors": ", ".join(["A. Person"] * 20_000),
           "versions": [{"version": "v1", "created": "Mon, 2 Apr 2007 19:18:42 GMT"}]}
    path.write_text(json.dumps(big) + "\n")
    assert detect_format(path) == "snapshot"


def test_recorded_responses_are_detected_by_their_body(tmp_path: Path, fixtures: Path) -> None:
    oai_body = (fixtures / "arxiv-oai-pmh/mikesaelim-arXivOAIHarvester/GetRecordResponse.xml").read_bytes()
    path = tmp_path / "oai.json"
    path.write_text(json.dumps({"url": "https://export.arxiv.org/oai2", "status_code": 200,
                                "body": oai_body.decode("latin-1")}))
    assert detect_format(path) == "oai-pmh"
    (record,) = open_source(path).items()
    assert isinstance(record, PaperRecord) and record.paper_id == "1302.2146"


@pytest.mark.parametrize("content", [
    b"", b"   \n\n", b"id,title\n1,x\n", b'{"qid": "q1", "query": "transformers"}\n', b"<html></html>",
    b"[1, 2, 3]", b"\x00\x01\x02binary",
])
def test_undetectable_content_asks_for_a_format(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "mystery.dat"
    path.write_bytes(content)
    with pytest.raises(InvalidInput, match="cannot tell the format.*pass --format") as error:
        detect_format(path)
    assert error.value.field == "format"
    assert str(path) in str(error.value)


def test_the_queries_file_is_not_taken_for_papers(shared_data: Path) -> None:
    with pytest.raises(InvalidInput, match="pass --format"):
        detect_format(shared_data / "dev-queries.jsonl")


@pytest.mark.parametrize(("fmt", "kind"), [
    ("snapshot", SnapshotJsonlSource), ("jsonl", MinimalJsonlSource), ("arxiv-api", ArxivApiFileSource),
    ("oai-pmh", OaiFileSource), ("rss", ArxivRssFileSource), ("hf-daily", HfDailyFileSource),
])
def test_open_source_builds_each_format(tmp_path: Path, fmt: str, kind: type) -> None:
    assert fmt in FORMATS
    source = open_source(tmp_path / "any", fmt)
    assert isinstance(source, kind)


def test_source_names(tmp_path: Path) -> None:
    names = {fmt: open_source(tmp_path / "x", fmt).name for fmt in FORMATS}
    assert names == {"snapshot": "arxiv-snapshot", "jsonl": "jsonl", "arxiv-api": "arxiv-api",
                     "oai-pmh": "arxiv-oai", "rss": "arxiv-rss", "hf-daily": "hf-daily"}


def test_unknown_format_is_invalid_input(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="unknown format 'csv'") as error:
        open_source(tmp_path / "x", "csv")
    assert error.value.field == "format"


@pytest.mark.parametrize(("file", "fmt", "message"), [
    ("seed-papers.jsonl", "rss", "is not an arXiv RSS feed: it looks like JSON"),
    ("seed-papers.jsonl", "oai-pmh", "is not an OAI-PMH response: it looks like JSON"),
    ("seed-papers.jsonl", "arxiv-api", "is not an arXiv API Atom feed: it looks like JSON"),
    ("seed-papers.jsonl", "hf-daily", "is not a Hugging Face daily-papers response"),
    ("fixtures/arxiv-rss/jmamath-distill/arxiv_cs_ai.xml", "jsonl", "its first line is XML"),
    ("fixtures/arxiv-rss/jmamath-distill/arxiv_cs_ai.xml", "snapshot", "its first line is XML"),
    ("fixtures/arxiv-rss/jmamath-distill/arxiv_cs_ai.xml", "oai-pmh", "(root element is <rss>)"),
    ("fixtures/hf-daily-papers/lucas-m-lopes-sotawhat/hf_daily_papers.json", "jsonl", "one JSON array"),
    ("fixtures/arxiv-oai-pmh/mikesaelim-arXivOAIHarvester/GetRecordResponse.xml", "rss",
     "(root element is <OAI-PMH>)"),
])
def test_a_file_that_is_not_the_named_format_fails_clearly(
    shared_data: Path, file: str, fmt: str, message: str
) -> None:
    path = shared_data / file
    source = open_source(path, fmt)
    with pytest.raises(SourceError) as error:
        list(source.items())
    assert message in str(error.value)
    assert str(path) in str(error.value)
