"""The OAI-PMH parser: real arXiv responses in the arXivRaw, arXiv and oai_dc formats, and its errors."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from papercast.domain.errors import SourceError
from papercast.domain.ingest import Rejection
from papercast.domain.papers import PaperRecord, PaperVersion, validate_record
from papercast.sources.arxiv_oai import DELETED_REASON, OaiFileSource, parse_oai_response

OAI = "http://www.openarchives.org/OAI/2.0/"
RAW = "http://arxiv.org/OAI/arXivRaw/"


def records(path: Path) -> list[PaperRecord]:
    items = OaiFileSource(path).page().items
    assert all(isinstance(i, PaperRecord) for i in items)
    return items  # type: ignore[return-value]


def _response(*records: str, extra: str = "") -> bytes:
    return (
        f'<OAI-PMH xmlns="{OAI}"><responseDate>2026-01-01T00:00:00Z</responseDate>'
        f'<ListRecords>{"".join(records)}{extra}</ListRecords></OAI-PMH>'
    ).encode()


def _raw_record(identifier: str, body: str) -> str:
    return (f"<record><header><identifier>{identifier}</identifier></header>"
            f'<metadata><arXivRaw xmlns="{RAW}">{body}</arXivRaw></metadata></record>')


def test_arxiv_raw_list_records_with_resumption_token(oai: Path) -> None:
    page = OaiFileSource(oai / "mikesaelim-arXivOAIHarvester" / "ListRecordsResponse.xml").page()
    assert page.resumption_token == "726959|1001"
    assert (page.complete_list_size, page.cursor) == (58011, 0)
    assert page.response_date == "2015-01-06T20:49:59Z"
    assert len(page.items) == 6
    first = page.items[0]
    assert isinstance(first, PaperRecord)
    assert first.paper_id == "0704.0471"
    assert [a.name for a in first.authors] == ["D.V. Shetty", "S.J. Yennello", "G.A. Souliotis"]
    assert first.categories == ("nucl-ex", "nucl-th")
    assert first.doi == "10.1103/PhysRevC.76.024606 10.1103/PhysRevC.76.039902"  # arXiv lists both DOIs
    assert first.versions == (PaperVersion(1, datetime(2007, 4, 3, 22, 4, 11, tzinfo=UTC)),)
    assert first.version == 1
    assert '"' in first.abstract  # &quot; decoded


def test_arxiv_raw_full_version_history(oai: Path) -> None:
    by_id = {r.paper_id: r for r in records(oai / "mikesaelim-arXivOAIHarvester" / "ListRecordsResponse.xml")}
    limits = by_id["0704.0716"]
    assert [v.number for v in limits.versions] == [1, 2, 3, 4]
    assert limits.versions[-1].submitted_at == datetime(2008, 11, 14, 9, 7, 25, tzinfo=UTC)
    assert limits.version == 4
    assert limits.title == "Limit distributions and scaling functions"
    assert limits.license == "http://arxiv.org/licenses/nonexclusive-distrib/1.0/"


def test_arxiv_raw_get_record(oai: Path) -> None:
    page = OaiFileSource(oai / "mikesaelim-arXivOAIHarvester" / "GetRecordResponse.xml").page()
    assert page.resumption_token is None and page.complete_list_size is None
    (record,) = page.items
    assert isinstance(record, PaperRecord)
    assert record.paper_id == "1302.2146"
    assert record.title == "The Same-Sign Dilepton Signature of RPV/MFV SUSY"
    assert [a.name for a in record.authors] == ["Joshua Berger", "Maxim Perelstein", "Michael Saelim",
                                                "Philip Tanedo"]
    assert record.versions == (
        PaperVersion(1, datetime(2013, 2, 8, 21, 0, 1, tzinfo=UTC)),
        PaperVersion(2, datetime(2013, 4, 2, 1, 50, 8, tzinfo=UTC)),
    )
    assert record.version == 2
    assert record.categories == ("hep-ph", "hep-ex")
    assert record.comments == "18 pages, 6 figures; v2: References added"
    assert not record.withdrawn


@pytest.mark.parametrize(("name", "code", "text"), [
    ("mikesaelim-arXivOAIHarvester/ErrorResponseBadArgument.xml", "badArgument",
     "Verb 'ListRecords', illegal argument 'identifier'."),
    ("mikesaelim-arXivOAIHarvester/ErrorResponseBadResumptionToken.xml", "badResumptionToken",
     "The resumptionToken supplied is illegal for this repository"),
    ("mikesaelim-arXivOAIHarvester/ErrorResponseBadVerb.xml", "badVerb",
     "Bad verb. Verb 'wah' not implemented."),
    ("mikesaelim-arXivOAIHarvester/ErrorResponseIdDoesNotExist.xml", "idDoesNotExist",
     "Identifier 'oai:arXiv.org:0813.2274' has correct form but does not correspond to an item"),
    ("mikesaelim-arXivOAIHarvester/ErrorResponseNoRecordsMatch.xml", "noRecordsMatch",
     "Set argument doesn't match any sets. The setSpec was 'moo'"),
    ("inveniosoftware-invenio-oaiharvester/sample_empty_response.xml", "noRecordsMatch",
     "No records match the paramaters specified for this selective harvesting request."),
])
def test_error_responses_raise_with_their_code(oai: Path, name: str, code: str, text: str) -> None:
    with pytest.raises(SourceError) as error:
        parse_oai_response((oai / name).read_bytes())
    assert error.value.code == code
    assert str(error.value).startswith(f"OAI-PMH error {code}: {text}")
    with pytest.raises(SourceError) as error:
        list(OaiFileSource(oai / name).items())
    assert error.value.code == code and str(oai / name) in str(error.value)


def test_arxiv_format_get_record(oai: Path) -> None:
    (record,) = records(oai / "inspirehep-hepcrawl" / "arxiv-single.xml")
    assert record.paper_id == "1401.2122"
    assert record.title == "New integrable (3+1)-dimensional systems and contact geometry"
    assert [a.name for a in record.authors] == ["A. Sergyeyev"]
    assert record.authors[0].last == "Sergyeyev"
    assert record.categories == ("math.AP", "hep-th", "math-ph", "math.DG", "math.MP", "nlin.SI")
    assert record.doi == "10.1007/s11005-017-1013-4"
    assert record.journal_ref == "Lett. Math. Phys. 108 (2018), no. 2, 359-376"
    # Only v1's date (<created>) is known; the latest version's number is not, so none is claimed.
    assert record.versions == (PaperVersion(1, datetime(2014, 1, 9, tzinfo=UTC)),)
    assert record.version is None


def test_arxiv_format_structured_authors(oai: Path) -> None:
    (record,) = records(oai / "inveniosoftware-invenio-oaiharvester" / "sample_arxiv_response.xml")
    assert record.paper_id == "1507.03011"
    assert [(a.name, a.last) for a in record.authors] == [
        ("J. E. Young", "Young"), ("Rachel Kuzio de Naray", "de Naray"), ("Sharon X. Wang", "Wang"),
    ]
    assert record.categories == ("astro-ph.GA",)
    assert record.comments == "13 pages, 7 figures"


def test_arxiv_format_list_records(oai: Path) -> None:
    hep_ex = records(oai / "inspirehep-hepcrawl" / "arxiv-physics-hep-ex.xml")
    assert [r.paper_id for r in hep_ex][:2] == ["1706.05371", "1706.09418"]
    assert len(hep_ex) == 3
    assert len(hep_ex[0].authors) == 13
    assert hep_ex[0].categories == ("physics.ins-det", "hep-ex")
    assert hep_ex[1].report_no == "BONN-TH-2017-03"
    assert hep_ex[1].doi == "10.1140/epjc/s10052-017-5414-4"
    assert len(records(oai / "inspirehep-hepcrawl" / "arxiv-physics-hep-th.xml")) == 3
    cs = records(oai / "inveniosoftware-invenio-oaiharvester" / "sample_arxiv_response_listrecords_cs.xml")
    assert len(cs) == 46 and cs[0].paper_id == "1101.4388"
    assert cs[0].categories == ("stat.ML", "cs.LG", "math.FA")


def test_withdrawn_papers_in_the_physics_harvest(oai: Path) -> None:
    physics = records(
        oai / "inveniosoftware-invenio-oaiharvester" / "sample_arxiv_response_listrecords_physics.xml"
    )
    assert len(physics) == 150
    withdrawn = {r.paper_id: r for r in physics if r.withdrawn}
    assert set(withdrawn) == {"1007.2349", "1402.3880", "1410.7185"}
    assert withdrawn["1410.7185"].comments.startswith("This paper has been withdrawn by the author")
    assert withdrawn["1007.2349"].comments.startswith("This reprint has been withdrawn at the request")
    for record in physics:
        validate_record(record)


def test_oai_dc_record(oai: Path) -> None:
    (record,) = records(oai / "inveniosoftware-invenio-oaiharvester" / "sample_oai_dc_response.xml")
    assert record.paper_id == "1507.03011"
    assert record.title.startswith("The Distribution of Star Formation and Metals in the Low Surface")
    assert [(a.name, a.last, a.first) for a in record.authors] == [
        ("J. E. Young", "Young", "J. E."), ("Rachel Kuzio de Naray", "de Naray", "Rachel Kuzio"),
        ("Sharon X. Wang", "Wang", "Sharon X."),
    ]
    assert record.abstract.startswith("We introduce the MUSCEL Program")
    assert record.comments == "13 pages, 7 figures"
    assert record.categories == ()  # dc:subject is "Astrophysics - Astrophysics of Galaxies", not a code
    assert record.versions == (PaperVersion(1, datetime(2015, 7, 10, tzinfo=UTC)),)
    assert record.version is None
    validate_record(record)


def test_deleted_records_are_reported_not_dropped() -> None:
    page = parse_oai_response(_response(
        '<record><header status="deleted"><identifier>oai:arXiv.org:0704.0001</identifier>'
        "<datestamp>2020-01-01</datestamp></header></record>",
        _raw_record("oai:arXiv.org:0704.0002", "<id>0704.0002</id><title>Kept</title>"),
    ))
    deleted, kept = page.items
    assert deleted == Rejection("record 1 (oai:arXiv.org:0704.0001)", DELETED_REASON, "arxiv-oai")
    assert isinstance(kept, PaperRecord) and kept.paper_id == "0704.0002"


def test_records_that_cannot_be_built_are_located_rejections() -> None:
    page = parse_oai_response(_response(
        "<record><header><identifier>oai:arXiv.org:0704.0003</identifier></header></record>",
        '<record><header><identifier>oai:arXiv.org:0704.0004</identifier></header>'
        '<metadata><marc xmlns="http://www.loc.gov/MARC21/slim"/></metadata></record>',
        _raw_record("oai:arXiv.org:bogus", "<id>not an id</id><title>x</title>"),
        _raw_record("oai:arXiv.org:0704.0006", '<id>0704.0006</id><version version="vX">'
                    "<date>Mon, 2 Apr 2007 19:18:42 GMT</date></version>"),
        _raw_record("oai:arXiv.org:0704.0007",
                    '<id>0704.0007</id><version version="v1"><date>soon</date></version>'),
        _raw_record("", "<title>no id anywhere</title>"),
    ))
    reasons = {r.location: r.reason for r in page.items if isinstance(r, Rejection)}
    assert reasons == {
        "record 1 (oai:arXiv.org:0704.0003)": "record has no metadata",
        "record 2 (oai:arXiv.org:0704.0004)": "unsupported metadata format <marc>",
        "record 3 (oai:arXiv.org:bogus)": "id: invalid paper id 'not an id'",
        "record 4 (oai:arXiv.org:0704.0006)": "versions: invalid version label 'vX'",
        "record 5 (oai:arXiv.org:0704.0007)": "versions: invalid date 'soon'",
        "record 6": "id: record has no id",
    }


def test_arxiv_raw_zero_size_latest_version_is_withdrawn() -> None:
    versions = ('<version version="v1"><date>Mon, 2 Apr 2007 19:18:42 GMT</date><size>120kb</size></version>'
                '<version version="v2"><date>Tue, 3 Apr 2007 10:00:00 GMT</date><size>0kb</size></version>')
    page = parse_oai_response(_response(
        _raw_record("oai:arXiv.org:0704.0007", f"<id>0704.0007</id>{versions}<title>Gone</title>"),
        extra='<resumptionToken cursor="1000" completeListSize="2000"></resumptionToken>',
    ))
    (record,) = page.items
    assert isinstance(record, PaperRecord)
    assert record.withdrawn and record.version == 2
    assert page.resumption_token is None  # an empty token ends the list
    assert (page.cursor, page.complete_list_size) == (1000, 2000)


def test_a_response_without_records_is_refused() -> None:
    identify = f'<OAI-PMH xmlns="{OAI}"><Identify><repositoryName>arXiv</repositoryName></Identify></OAI-PMH>'
    with pytest.raises(SourceError, match="expected ListRecords or GetRecord.*<Identify>") as error:
        parse_oai_response(identify.encode())
    assert error.value.code == "unsupported-verb"


def test_a_feed_that_is_not_oai_pmh_is_refused(api_2016: Path) -> None:
    path = api_2016 / "id_list_1111.2011v2.xml"
    with pytest.raises(SourceError, match=r"is not an OAI-PMH response \(root element is <feed>\)") as error:
        list(OaiFileSource(path).items())
    assert str(path) in str(error.value)
