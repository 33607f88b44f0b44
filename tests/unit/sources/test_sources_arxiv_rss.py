"""The arXiv RSS parser, on real cs.AI / cs.CL / cs.LG feeds and an empty weekend feed."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from papercast.domain.errors import SourceError
from papercast.domain.ingest import Rejection
from papercast.domain.papers import PaperRecord, PaperVersion, validate_record
from papercast.sources.arxiv_rss import ArxivRssFileSource, parse_rss

FEED = (
    '<rss xmlns:arxiv="http://arxiv.org/schemas/atom" xmlns:dc="http://purl.org/dc/elements/1.1/" '
    'version="2.0"><channel><title>cs.LG updates on arXiv.org</title>{items}</channel></rss>'
)


def records(path: Path) -> list[PaperRecord]:
    items = list(ArxivRssFileSource(path).items())
    assert all(isinstance(i, PaperRecord) for i in items)
    return items  # type: ignore[return-value]


def test_weekend_feed_has_no_items(rss: Path) -> None:
    assert list(ArxivRssFileSource(rss / "BuiVannn-All-News-AI" / "arxiv_weekend_empty.xml").items()) == []


def test_cs_ai_feed(rss: Path) -> None:
    first, second, third = records(rss / "jmamath-distill" / "arxiv_cs_ai.xml")
    assert [r.paper_id for r in (first, second, third)] == ["2604.21935", "2604.21936", "2604.21937"]
    assert first.title == "Math Takes Two: A test for emergent mathematical reasoning in communication"
    assert first.abstract.startswith("Although language models demonstrate remarkable proficiency")
    assert "Announce Type" not in first.abstract and "arXiv:" not in first.abstract
    assert [a.name for a in first.authors] == ["Michael Cooper", "Samuel Cooper"]
    assert first.categories == ("cs.AI", "cs.LG")
    assert first.versions == (PaperVersion(1),)  # announced as v1 ...
    assert first.version is None  # ... but RSS only fills gaps, so it claims no version
    assert first.announced_on == date(2026, 4, 27)
    assert first.license == "http://creativecommons.org/licenses/by/4.0/"
    assert first.source == "arxiv-rss"
    assert len(second.authors) == 18 and second.authors[-1].name == "Bennett A. Landman"
    assert second.categories == ("cs.AI", "cs.CV", "cs.MA")
    assert len(third.authors) == 17
    assert "\\textbf{adaptability}" in second.abstract


@pytest.mark.parametrize(("name", "ids"), [
    ("arxiv_cs_cl.xml", ["2604.22002", "2604.22027", "2604.22038"]),
    ("arxiv_cs_lg.xml", ["2604.21952", "2604.21953", "2604.21956"]),
])
def test_other_feeds(rss: Path, name: str, ids: list[str]) -> None:
    items = records(rss / "jmamath-distill" / name)
    assert [r.paper_id for r in items] == ids
    assert all(r.announced_on == date(2026, 4, 27) and r.versions == (PaperVersion(1),) for r in items)
    for record in items:
        validate_record(record)


def test_primary_category_comes_first(rss: Path) -> None:
    first = records(rss / "jmamath-distill" / "arxiv_cs_lg.xml")[0]
    assert first.categories == ("cs.LG", "cs.AI", "cs.AR", "cs.NE", "cs.RO")


def test_a_replacement_names_its_version_but_not_the_announcement_day() -> None:
    item = (
        "<item><title>Revised</title><link>https://arxiv.org/abs/2401.01234</link>"
        "<description>arXiv:2401.01234v3 Announce Type: replace \nAbstract: Better now.</description>"
        '<guid isPermaLink="false">oai:arXiv.org:2401.01234v3</guid><category>cs.LG</category>'
        "<pubDate>Mon, 27 Apr 2026 00:00:00 -0400</pubDate><arxiv:announce_type>replace</arxiv:announce_type>"
        "<dc:creator>A. Person, B. Person</dc:creator></item>"
    )
    (record,) = parse_rss(FEED.format(items=item).encode())
    assert isinstance(record, PaperRecord)
    assert (record.paper_id, record.abstract) == ("2401.01234", "Better now.")
    assert record.versions == (PaperVersion(3),)
    assert record.announced_on is None  # April 2026 is when v3 was announced, not the paper


def test_items_without_a_usable_id_are_located_rejections() -> None:
    items = (
        "<item><title>No id at all</title><description>Just text.</description></item>"
        "<item><title>Bad id</title><guid>oai:arXiv.org:nonsense!</guid></item>"
        "<item><title>Bad date</title><guid>oai:arXiv.org:2401.00003v1</guid><pubDate>someday</pubDate>"
        "<arxiv:announce_type>new</arxiv:announce_type></item>"
        "<item><title>Fine</title><link>https://arxiv.org/abs/2401.00004</link></item>"
    )
    first, second, third, fourth = parse_rss(FEED.format(items=items).encode())
    assert first == Rejection("item 1", "id: item has no guid, link or arXiv id", "arxiv-rss")
    assert isinstance(second, Rejection) and second.location == "item 2 (oai:arXiv.org:nonsense!)"
    assert isinstance(third, Rejection) and "pubDate" in third.reason
    assert isinstance(fourth, PaperRecord) and fourth.paper_id == "2401.00004" and fourth.versions == ()


def test_json_lines_given_as_rss_is_a_clear_error(shared_data: Path) -> None:
    path = shared_data / "seed-papers.jsonl"
    with pytest.raises(SourceError, match="is not an arXiv RSS feed: it looks like JSON") as error:
        list(ArxivRssFileSource(path).items())
    assert str(error.value).startswith(str(path))
    assert error.value.code == "malformed-xml"


def test_an_atom_feed_given_as_rss_names_its_root(api_2016: Path) -> None:
    path = api_2016 / "id_list_1111.2011v2.xml"
    with pytest.raises(SourceError) as error:
        list(ArxivRssFileSource(path).items())
    assert str(error.value) == f"{path} is not an arXiv RSS feed (root element is <feed>)"


def test_rss_without_a_channel_is_refused() -> None:
    with pytest.raises(SourceError, match="has no <channel>"):
        parse_rss(b'<rss version="2.0"></rss>')
