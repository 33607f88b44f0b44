"""Every format, every kind of broken field: one bad record between two good ones becomes one
rejection naming its line or element, and the good ones come through.

Each case is a record whose fields are converted somewhere (dates, versions, ids, text), in
each format that carries that field.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from xml.sax.saxutils import escape

import pytest

from papercast.domain.ingest import Rejection, ValidatedBatch, validate_items
from papercast.sources.detect import open_source


@dataclass(frozen=True)
class Fields:
    """One paper as the test writes it, in each format's own spelling."""

    paper_id: str = "2101.00001"
    version: str = "1"
    title: str = "A good paper"
    rfc_date: str = "Mon, 1 Feb 2021 10:00:00 GMT"  # snapshot, OAI arXivRaw, RSS
    iso_date: str = "2021-02-01T10:00:00Z"  # API, Hugging Face


def _snapshot(papers: list[Fields]) -> bytes:
    return "".join(json.dumps({
        "id": p.paper_id, "title": p.title, "abstract": "Text.", "authors": "A. Author",
        "versions": [{"version": f"v{p.version}", "created": p.rfc_date}],
    }) + "\n" for p in papers).encode()


def _jsonl(papers: list[Fields]) -> bytes:
    return "".join(json.dumps({"id": f"{p.paper_id}v{p.version}", "title": p.title, "abstract": "Text."})
                   + "\n" for p in papers).encode()


def _api(papers: list[Fields]) -> bytes:
    entries = "".join(f"""<entry><id>http://arxiv.org/abs/{p.paper_id}v{p.version}</id>
        <title>{escape(p.title)}</title><summary>Text.</summary>
        <published>{p.iso_date}</published><updated>{p.iso_date}</updated>
        <author><name>A. Author</name></author></entry>""" for p in papers)
    return f'<feed xmlns="http://www.w3.org/2005/Atom">{entries}</feed>'.encode()


def _oai(papers: list[Fields]) -> bytes:
    records = "".join(f"""<record><header><identifier>oai:arXiv.org:{p.paper_id}</identifier></header>
        <metadata><arXivRaw xmlns="http://arxiv.org/OAI/arXivRaw/"><id>{p.paper_id}</id>
        <version version="v{p.version}"><date>{p.rfc_date}</date></version>
        <title>{escape(p.title)}</title><authors>A. Author</authors><abstract>Text.</abstract>
        </arXivRaw></metadata></record>""" for p in papers)
    return (f'<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"><ListRecords>{records}'
            "</ListRecords></OAI-PMH>").encode()


def _rss(papers: list[Fields]) -> bytes:
    items = "".join(f"""<item><title>{escape(p.title)}</title>
        <guid>oai:arXiv.org:{p.paper_id}v{p.version}</guid>
        <description>arXiv:{p.paper_id}v{p.version} Announce Type: new Abstract: Text.</description>
        <pubDate>{p.rfc_date}</pubDate><dc:creator>A. Author</dc:creator></item>""" for p in papers)
    return (f'<rss xmlns:dc="http://purl.org/dc/elements/1.1/"><channel><title>cs</title>{items}'
            "</channel></rss>").encode()


def _hf_daily(papers: list[Fields]) -> bytes:
    return json.dumps([{
        "paper": {"id": f"{p.paper_id}v{p.version}", "title": p.title, "summary": "Text.",
                  "publishedAt": p.iso_date, "upvotes": 3, "authors": [{"name": "A. Author"}]},
        "numComments": 1,
    } for p in papers]).encode()


WRITERS: dict[str, Callable[[list[Fields]], bytes]] = {
    "snapshot": _snapshot, "jsonl": _jsonl, "arxiv-api": _api, "oai-pmh": _oai, "rss": _rss,
    "hf-daily": _hf_daily,
}
SECOND = {"snapshot": "line 2", "jsonl": "line 2", "arxiv-api": "entry 2", "oai-pmh": "record 2",
          "rss": "item 2", "hf-daily": "item 2"}
JSON_FORMATS = {"snapshot", "jsonl", "hf-daily"}
DATED_FORMATS = {"snapshot", "arxiv-api", "oai-pmh", "rss", "hf-daily"}

# (what is broken, how, the formats whose records carry it)
CASES: list[tuple[str, dict[str, str], set[str]]] = [
    ("lone surrogate in the title", {"title": "bad \ud800 title"}, JSON_FORMATS),  # XML cannot carry one
    ("a title of control characters only", {"title": "\x7f\x85\x9f"}, set(WRITERS)),
    ("a title of C0 control characters only", {"title": "\x00\x07\x08\x1b"}, JSON_FORMATS),  # not XML 1.0
    ("year 9999 with a time zone", {"rfc_date": "Fri, 31 Dec 9999 23:00:00 -0500",
                                    "iso_date": "9999-12-31T23:00:00-05:00"}, DATED_FORMATS),
    ("a year of twenty digits", {"rfc_date": "Fri, 31 Dec 12345678901234567890 23:00:00 GMT",
                                 "iso_date": "12345678901234567890-12-31T23:00:00Z"}, DATED_FORMATS),
    ("year 0001", {"rfc_date": "Mon, 1 Jan 0001 00:00:00 +0100",
                   "iso_date": "0001-01-01T00:00:00+01:00"}, DATED_FORMATS),
    ("a year in other digits", {"rfc_date": "Mon, 1 Feb ２０２１ 10:00:00 GMT",
                                "iso_date": "٢٠٢١-02-01T10:00:00Z"}, DATED_FORMATS),
    ("a version of 5,000 digits", {"version": "1" * 5000}, set(WRITERS)),
    ("a version in other digits", {"version": "２"}, set(WRITERS)),
    ("an id in other digits", {"paper_id": "２１０１.００００２"}, set(WRITERS)),
]
PARAMS = [pytest.param(fmt, changes, id=f"{fmt}: {name}")
          for name, changes, formats in CASES for fmt in WRITERS if fmt in formats]


def _read(tmp_path: Path, fmt: str, papers: list[Fields]) -> ValidatedBatch:
    path = tmp_path / f"papers.{fmt}"
    path.write_bytes(WRITERS[fmt](papers))
    return validate_items(list(open_source(path, fmt).items()), fmt)


@pytest.mark.parametrize("fmt", WRITERS)
def test_the_good_records_of_each_format_come_through(tmp_path: Path, fmt: str) -> None:
    papers = [Fields("2101.00001"), Fields("2101.00002", "2", "Another good paper")]
    batch = _read(tmp_path, fmt, papers)
    assert batch.rejections == []
    assert [(r.paper_id, r.title) for r in batch.records] == [
        ("2101.00001", "A good paper"), ("2101.00002", "Another good paper")]


@pytest.mark.parametrize(("fmt", "changes"), PARAMS)
def test_a_broken_field_rejects_only_its_record(tmp_path: Path, fmt: str, changes: dict[str, str]) -> None:
    bad = replace(Fields("2101.00002"), **changes)
    batch = _read(tmp_path, fmt, [Fields("2101.00001"), bad, Fields("2101.00003")])
    assert [r.paper_id for r in batch.records] == ["2101.00001", "2101.00003"]
    (rejection,) = batch.rejections
    assert isinstance(rejection, Rejection)
    assert rejection.location.startswith(SECOND[fmt]), rejection
    assert rejection.reason and (rejection.location + rejection.reason).isprintable()
    assert "unexpected" not in rejection.reason and "cannot read the record" not in rejection.reason


@pytest.mark.parametrize("fmt", sorted(JSON_FORMATS))
def test_control_characters_inside_text_are_removed(tmp_path: Path, fmt: str) -> None:
    batch = _read(tmp_path, fmt, [Fields(title="Good\x00 pa\x08per\x1b")])
    assert [r.title for r in batch.records] == ["Good paper"]


def test_a_huge_number_rejects_only_its_daily_papers_entry(tmp_path: Path) -> None:
    data = _hf_daily([Fields("2101.00001"), Fields("2101.00002"), Fields("2101.00003")])
    path = tmp_path / "daily.json"
    path.write_bytes(data.replace(b'"upvotes": 3', b'"upvotes": ' + b"9" * 5000, 1))
    batch = validate_items(list(open_source(path, "hf-daily").items()), "hf-daily")
    assert [r.paper_id for r in batch.records] == ["2101.00002", "2101.00003"]
    assert batch.rejections[0].location.startswith("item 1")
    assert "upvotes" in batch.rejections[0].reason


@pytest.mark.parametrize("count", [-1, 2**31, 10**20])
def test_counts_out_of_range_reject_only_their_entry(tmp_path: Path, count: int) -> None:
    data = json.loads(_hf_daily([Fields("2101.00001"), Fields("2101.00002")]))
    data[0]["numComments"] = count
    path = tmp_path / "daily.json"
    path.write_text(json.dumps(data))
    batch = validate_items(list(open_source(path, "hf-daily").items()), "hf-daily")
    assert [r.paper_id for r in batch.records] == ["2101.00002"]
    assert "numComments" in batch.rejections[0].reason


@pytest.mark.parametrize("fmt", WRITERS)
def test_a_utf8_byte_order_mark_is_accepted(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / "with-bom"
    path.write_bytes(b"\xef\xbb\xbf" + WRITERS[fmt]([Fields("2101.00001"), Fields("2101.00002")]))
    batch = validate_items(list(open_source(path).items()))  # the format is detected, too
    assert batch.rejections == []
    assert [r.paper_id for r in batch.records] == ["2101.00001", "2101.00002"]


def test_a_recorded_response_with_a_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    recorded = {"url": "https://export.arxiv.org/api/query", "status_code": 200,
                "body": _api([Fields("2101.00001")]).decode()}
    path = tmp_path / "recorded.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(recorded).encode())
    assert [r.paper_id for r in open_source(path).items()] == ["2101.00001"]  # type: ignore[union-attr]
