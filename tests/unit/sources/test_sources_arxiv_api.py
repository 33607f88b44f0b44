"""The arXiv query API (Atom) parser, on real responses in the 2026 and the 2016 legacy format."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from papercast.domain.errors import SourceError
from papercast.domain.ingest import Rejection
from papercast.domain.papers import PaperRecord, PaperVersion, validate_record
from papercast.sources.arxiv_api import ArxivApiFileSource, parse_api_feed

TOTAL_TESTING = 214881
ATOM = "http://www.w3.org/2005/Atom"


def body(path: Path) -> bytes:
    """The raw response bytes of a recorded `{"url", "status_code", "body"}` file."""
    return json.loads(path.read_text(encoding="utf-8"))["body"].encode("latin-1")


def records(path: Path) -> list[PaperRecord]:
    items = ArxivApiFileSource(path).page().items
    assert all(isinstance(i, PaperRecord) for i in items)
    return items  # type: ignore[return-value]


def _feed(*entries: str) -> bytes:
    return f'<feed xmlns="{ATOM}">{"".join(entries)}</feed>'.encode()


def test_legacy_single_id_feed(api_2016: Path) -> None:
    page = ArxivApiFileSource(api_2016 / "id_list_1111.2011v2.xml").page()
    assert (page.total_results, page.start_index, page.items_per_page) == (1, 0, 10)
    (record,) = page.items
    assert isinstance(record, PaperRecord)
    assert record.paper_id == "1111.2011"
    assert record.version == 2
    assert record.versions == (
        PaperVersion(1, datetime(2011, 11, 8, 18, 48, 36, tzinfo=UTC)),
        PaperVersion(2, datetime(2012, 4, 2, 12, 38, 54, tzinfo=UTC)),
    )
    assert record.title.startswith("Quantum Criticality for Extended Nodes on a Bethe Lattice in the Large")
    assert record.abstract.strip().startswith("Theoretical description of anisotropic systems")
    assert [a.name for a in record.authors] == ["James M. Murray", "Adrian Del Maestro", "Zlatko Tesanovic"]
    assert record.doi == "10.1103/PhysRevB.85.115117"
    assert record.journal_ref == "Phys. Rev. B 85, 115117 (2012)"
    assert record.comments == "8 pages, 3 figures. Published version"
    assert record.categories == ("cond-mat.str-el", "cond-mat.stat-mech")
    assert record.source == "arxiv-api"


@pytest.mark.parametrize(("name", "total", "ids"), [
    ("search_au_del_maestro.xml", 31, ["1201.4869", "cond-mat/0412498", "cond-mat/0603029", "1005.5383",
                                       "1303.6954", "1312.6177", "1412.6529", "cond-mat/0607501",
                                       "cond-mat/0702661", "0807.2873"]),
    ("search_au_del_maestro_AND_ti_checkerboard.xml", 1, ["cond-mat/0603029"]),
    ("search_au_del_maestro_AND_ti_quantum_criticality.xml", 2, ["1111.2011", "cond-mat/0607501"]),
    ("search_au_del_maestro_ANDNOT_ti_checkerboard_OR_ti_Pyrochlore.xml", 24,
     ["1201.4869", "cond-mat/0412498", "1005.5383", "1303.6954", "1312.6177", "1412.6529",
      "cond-mat/0607501", "0807.2873", "1101.2206", "1111.2011"]),
])
def test_legacy_search_feeds(api_2016: Path, name: str, total: int, ids: list[str]) -> None:
    page = ArxivApiFileSource(api_2016 / name).page()
    assert page.total_results == total
    assert [r.paper_id for r in page.items] == ids  # type: ignore[union-attr]


def test_legacy_old_style_id_keeps_primary_category_first(api_2016: Path) -> None:
    (record,) = records(api_2016 / "search_au_del_maestro_AND_ti_checkerboard.xml")
    assert record.paper_id == "cond-mat/0603029"
    assert record.version == 1
    assert record.categories == ("cond-mat.str-el", "cond-mat.supr-con")


def test_current_format_old_style_id_with_affiliations(api_2026: Path) -> None:
    (record,) = records(api_2026 / "id_astro-ph_0601001_s0_m100_3150dca9dc76.json")
    assert record.paper_id == "astro-ph/0601001"
    assert record.version == 1
    assert record.versions == (PaperVersion(1, datetime(2006, 1, 2, 14, 57, 58, tzinfo=UTC)),)
    assert record.title.startswith("Frequency of Hot Jupiters and Very Hot Jupiters")
    assert [a.name for a in record.authors] == ["Andrew Gould", "Susan Dorsher", "B. Scott Gaudi",
                                                "Andrzej Udalski"]
    assert record.journal_ref == "ActaAstron.56:1-50,2006"
    assert record.categories == ("astro-ph",)
    assert "V_max<17.5" in record.abstract  # the &lt; entity is decoded


def test_current_format_versioned_old_style_id(api_2026: Path) -> None:
    (record,) = records(api_2026 / "id_quant-ph_0201082v1_s0_m100_86989fe779ef.json")
    assert (record.paper_id, record.version) == ("quant-ph/0201082", 1)
    assert record.categories == ("quant-ph", "cs.PL")
    assert [a.name for a in record.authors] == ["Stephen Blaha"]
    assert record.comments == "32 pages"


def test_a_title_of_zero_is_kept(api_2026: Path) -> None:
    (record,) = records(api_2026 / "id_2104.12255v1_s0_m100_6ae69987ffe1.json")
    assert (record.paper_id, record.version, record.title) == ("2104.12255", 1, "0")
    assert record.categories == ("cs.CR",)
    assert validate_record(record).title == "0"


def test_utf8_author_names_survive_the_latin1_recording(api_2026: Path) -> None:
    (record,) = records(api_2026 / "id_1707.08567_s0_m100_6a1afebfc6a3.json")
    assert record.paper_id == "1707.08567"
    assert len(record.authors) == 34
    assert "Dirk Wübben" in [a.name for a in record.authors]
    assert record.authors[0].name == "Kees A. Schouhamer Immink"


def test_ids_with_no_result_are_simply_absent(api_2026: Path) -> None:
    both = ArxivApiFileSource(api_2026 / "id_0808.05394_1707.08567_s0_m100_42e5aa0ec3af.json").page()
    assert both.total_results == 1
    assert [r.paper_id for r in both.items] == ["1707.08567"]  # type: ignore[union-attr]
    for name in ("id_0808.05394_s0_m100_7b0c7d0a7cdd.json", "id_0000.0000_s0_m100_8b51d9633a68.json"):
        page = ArxivApiFileSource(api_2026 / name).page()
        assert (page.items, page.total_results, page.start_index, page.items_per_page) == ([], 0, 0, 100)


@pytest.mark.parametrize(("name", "start", "size"), [
    ("q_testing_s0_m10_bc5a6c384fe9.json", 0, 10), ("q_testing_s0_m15_80c242b59d59.json", 0, 15),
    ("q_testing_s0_m100_cfe7536492ca.json", 0, 100), ("q_testing_s5_m10_c0e94a259d4a.json", 5, 10),
    ("q_testing_s5_m15_bbcf6b23085b.json", 5, 15), ("q_testing_s9_m15_0b78d4b4d476.json", 9, 15),
    ("q_testing_s10_m10_34e56e15aaac.json", 10, 10), ("q_testing_s20_m10_348a237fecab.json", 20, 10),
    ("q_testing_s30_m10_f2e39f0143dc.json", 30, 10), ("q_testing_s40_m10_96dd32eb854c.json", 40, 10),
    ("q_testing_s50_m10_7f488ab8598c.json", 50, 10),
])
def test_search_pages_carry_opensearch_numbers(api_2026: Path, name: str, start: int, size: int) -> None:
    page = ArxivApiFileSource(api_2026 / name).page()
    assert (page.total_results, page.start_index, page.items_per_page) == (TOTAL_TESTING, start, size)
    assert len(page.items) == size
    for record in page.items:
        validate_record(record)  # type: ignore[arg-type]


def test_search_pages_line_up(api_2026: Path) -> None:
    def ids(name: str) -> list[str]:
        return [r.paper_id for r in records(api_2026 / name)]

    hundred = ids("q_testing_s0_m100_cfe7536492ca.json")
    assert hundred[:3] == ["2202.12139", "2405.13786", "2005.14124"]
    assert len(set(hundred)) == 100
    assert ids("q_testing_s0_m10_bc5a6c384fe9.json") == hundred[:10]
    assert ids("q_testing_s10_m10_34e56e15aaac.json") == hundred[10:20]
    assert ids("q_testing_s5_m10_c0e94a259d4a.json") == ids("q_testing_s0_m15_80c242b59d59.json")[5:]


def test_search_page_versions_dois_and_old_ids(api_2026: Path) -> None:
    page = records(api_2026 / "q_testing_s0_m100_cfe7536492ca.json")
    by_id = {r.paper_id: r for r in page}
    first = by_id["2202.12139"]
    assert first.doi == "10.1109/ICSTW55395.2022.00035"
    assert first.categories == ("cs.SE", "cs.LG")
    assert first.journal_ref.startswith("Artificial Intelligence in Software Testing @ 2022 IEEE")
    fuzzing = by_id["2005.14124"]
    assert fuzzing.version == 2
    assert fuzzing.versions == (
        PaperVersion(1, datetime(2020, 5, 28, 16, 19, 50, tzinfo=UTC)),
        PaperVersion(2, datetime(2020, 7, 16, 8, 15, 48, tzinfo=UTC)),
    )
    assert sum(1 for r in page if r.doi) == 32
    assert max(r.version or 0 for r in page) == 9
    assert {"cs/0503050", "hep-ph/0301050", "gr-qc/0103067"} <= set(by_id)


def test_error_feed_raises_with_arxivs_message(api_2026: Path) -> None:
    path = api_2026 / "id_abc_s0_m100_b79c8dcf6bc3.json"
    with pytest.raises(SourceError) as error:
        parse_api_feed(body(path))
    assert str(error.value) == "arXiv API error: incorrect id format for abc"
    assert error.value.code == "arxiv-api-error"
    with pytest.raises(SourceError) as error:
        list(ArxivApiFileSource(path).items())
    message = str(error.value)
    assert str(path) in message and "HTTP 400" in message and "incorrect id format for abc" in message
    assert error.value.code == "arxiv-api-error"


def test_legacy_style_error_entry_is_recognised() -> None:
    feed = _feed(
        "<entry><id>http://arxiv.org/api/errors#max_results_must_be_less_than_30000</id>"
        "<title>Error</title><summary>max_results must be less than 30000</summary></entry>"
    )
    with pytest.raises(SourceError, match="arXiv API error: max_results must be less than 30000"):
        parse_api_feed(feed)


def test_entries_without_a_usable_id_are_located_rejections() -> None:
    page = parse_api_feed(_feed(
        "<entry><id>http://arxiv.org/abs/2101.00001v3</id><title>Good</title>"
        "<published>2021-01-01T00:00:00Z</published><updated>2021-03-01T00:00:00Z</updated></entry>",
        "<entry><title>No id</title></entry>",
        "<entry><id>http://arxiv.org/abs/not-an-id!</id><title>Bad id</title></entry>",
        "<entry><id>http://arxiv.org/abs/2101.00004v1</id><title>Bad date</title>"
        "<published>last tuesday</published></entry>",
    ))
    good, missing, bad, bad_date = page.items
    assert isinstance(good, PaperRecord) and good.version == 3
    assert [v.number for v in good.versions] == [1, 3]
    assert missing == Rejection("entry 2", "entry has no <id>", "arxiv-api")
    assert isinstance(bad, Rejection)
    assert bad.location == "entry 3 (http://arxiv.org/abs/not-an-id!)"
    assert "invalid paper id" in bad.reason
    assert isinstance(bad_date, Rejection) and "published" in bad_date.reason
    assert (page.total_results, page.start_index, page.items_per_page) == (None, None, None)


def test_a_feed_that_is_not_atom_is_refused(rss: Path) -> None:
    path = rss / "jmamath-distill" / "arxiv_cs_ai.xml"
    expected = r"is not an arXiv API Atom feed \(root element is <rss>\)"
    with pytest.raises(SourceError, match=expected) as error:
        list(ArxivApiFileSource(path).items())
    assert error.value.code == "wrong-format"
    assert str(path) in str(error.value)


def test_recorded_http_failure_without_an_error_feed(tmp_path: Path) -> None:
    path = tmp_path / "503.json"
    path.write_text(json.dumps({"url": "https://export.arxiv.org/api/query", "status_code": 503,
                                "body": f'<feed xmlns="{ATOM}"></feed>'}))
    with pytest.raises(SourceError, match="HTTP 503") as error:
        list(ArxivApiFileSource(path).items())
    assert error.value.code == "http-error"
