"""Hostile and broken input: entity bombs, external entities, truncated XML, empty files."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest

from papercast.domain.errors import SourceError
from papercast.ports import PaperSource
from papercast.sources.arxiv_api import ArxivApiFileSource, parse_api_feed
from papercast.sources.arxiv_oai import OaiFileSource, parse_oai_response
from papercast.sources.arxiv_rss import ArxivRssFileSource, parse_rss

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<{root}><title>&lol9;</title></{root}>
"""
EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<{root}><title>&xxe;</title></{root}>
"""
PARSERS: dict[str, tuple[Callable[[bytes], object], str]] = {
    "api": (parse_api_feed, "feed"),
    "oai": (parse_oai_response, "OAI-PMH"),
    "rss": (parse_rss, "rss"),
}


@pytest.mark.parametrize("kind", PARSERS)
@pytest.mark.parametrize("template", [BILLION_LAUGHS, EXTERNAL_ENTITY], ids=["billion-laughs", "xxe"])
def test_entity_declarations_are_refused_before_expansion(kind: str, template: bytes) -> None:
    parse, root = PARSERS[kind]
    tracemalloc.start()  # expat allocates through Python's allocator, so its memory is counted too
    try:
        with pytest.raises(SourceError, match="refusing XML with a DTD") as error:
            parse(template.replace(b"{root}", root.encode()))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert error.value.code == "forbidden-xml"
    assert peak < 8 * 2**20, "entities were expanded: &lol9; alone is 3 GB of text"


@pytest.mark.parametrize(("relative", "make"), [
    ("arxiv-api-atom/lukasschwab-arxiv.py/2016-legacy/search_au_del_maestro.xml", ArxivApiFileSource),
    ("arxiv-oai-pmh/inveniosoftware-invenio-oaiharvester/sample_arxiv_response_listrecords_cs.xml",
     OaiFileSource),
    ("arxiv-rss/jmamath-distill/arxiv_cs_cl.xml", ArxivRssFileSource),
])
def test_truncated_xml_is_a_page_level_error(
    fixtures: Path, tmp_path: Path, relative: str, make: Callable[[Path], PaperSource]
) -> None:
    data = (fixtures / relative).read_bytes()
    path = tmp_path / "truncated.xml"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(SourceError, match="the XML does not parse") as error:
        list(make(path).items())
    assert error.value.code == "malformed-xml"
    assert str(path) in str(error.value)


@pytest.mark.parametrize("make", [ArxivApiFileSource, OaiFileSource, ArxivRssFileSource])
@pytest.mark.parametrize("content", [b"", b"\x1f\x8b\x08\x00garbage", b"\xff\xfe\x00<<<"])
def test_empty_or_garbage_files_are_errors(
    tmp_path: Path, make: Callable[[Path], PaperSource], content: bytes
) -> None:
    path = tmp_path / "bad.xml"
    path.write_bytes(content)
    with pytest.raises(SourceError) as error:
        list(make(path).items())
    assert str(path) in str(error.value)


def test_broken_oai_page_from_a_partial_download(tmp_path: Path) -> None:
    path = tmp_path / "broken.xml"
    path.write_text("<OAI-PMH xmlns='http://www.openarchives.org/OAI/2.0/'><ListRecords><record>")
    with pytest.raises(SourceError, match="is not an OAI-PMH response: the XML does not parse"):
        list(OaiFileSource(path).items())


def test_a_directory_is_not_readable(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="cannot read"):
        list(OaiFileSource(tmp_path).items())


@pytest.mark.parametrize("kind", PARSERS)
def test_an_unknown_declared_encoding_is_a_source_error(kind: str) -> None:
    parse, root = PARSERS[kind]
    with pytest.raises(SourceError, match="unknown encoding") as error:
        parse(f"<?xml version='1.0' encoding='UTFj8'?><{root}/>".encode())
    assert error.value.code == "malformed-xml"
