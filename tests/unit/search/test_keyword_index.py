"""The tantivy keyword index: ranking, phrases, exclusions, filters, updates and persistence."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from papercast.domain.papers import Author, Paper
from papercast.domain.query import parse_query
from papercast.index.durable import DamagedFiles
from papercast.index.keyword import STATE_FILE, TantivyKeywordIndex
from support.file_syncs import record_syncs


def paper(paper_id: str, title: str, abstract: str = "", *, authors: tuple[str, ...] = (),
          categories: tuple[str, ...] = (), announced: date | None = None, withdrawn: bool = False) -> Paper:
    return Paper(paper_id=paper_id, title=title, abstract=abstract,
                 authors=tuple(Author(name=name) for name in authors), categories=categories,
                 announced_on=announced, withdrawn=withdrawn)


CORPUS = [
    paper("2101.00001", "Graph neural networks for molecules",
          "We study message passing on molecular graphs.", authors=("Ada Lovelace", "Alan Turing"),
          categories=("cs.LG", "q-bio.BM"), announced=date(2021, 1, 4)),
    paper("2201.00002", "Convolutional networks for images",
          "Image classification with graph-free convolutional neural networks.",
          authors=("Grace Hopper",), categories=("cs.CV",), announced=date(2022, 1, 3)),
    paper("2301.00003", "Attention for language",
          "Neural networks with attention read graph structured text; networks of networks.",
          authors=("Alan Kay",), categories=("cs.CL",), announced=date(2023, 1, 2)),
    paper("2302.00004", "A survey of everything", "Neural graph methods, reviewed.",
          authors=("Barbara Liskov",), categories=("stat.ML",), announced=date(2023, 2, 1), withdrawn=True),
]


@pytest.fixture
def index() -> TantivyKeywordIndex:
    keyword = TantivyKeywordIndex()
    keyword.add_or_replace(CORPUS)
    keyword.commit()
    return keyword


def ids(index: TantivyKeywordIndex, query: str, **options: object) -> list[str]:
    return [paper_id for paper_id, _ in index.search(parse_query(query), limit=10, **options).hits]  # type: ignore[arg-type]


def test_title_matches_rank_above_abstract_matches(index: TantivyKeywordIndex) -> None:
    # "graph" is in the title of the first paper and only in the abstracts of the others.
    assert ids(index, "graph")[0] == "2101.00001"
    assert ids(index, "attention")[0] == "2301.00003"


def test_stemming_and_function_words(index: TantivyKeywordIndex) -> None:
    assert ids(index, "molecule")[0] == "2101.00001"  # stemmed: molecules -> molecul
    assert ids(index, "what are the images")[0] == "2201.00002"


def test_phrase_must_appear_in_order(index: TantivyKeywordIndex) -> None:
    assert set(ids(index, '"neural networks"')) == {"2101.00001", "2201.00002", "2301.00003"}
    assert ids(index, '"neural graph"') == ["2302.00004"]
    assert ids(index, '"networks neural"') == []


def test_exclusions(index: TantivyKeywordIndex) -> None:
    assert "2301.00003" not in ids(index, "networks -attention")
    assert "2201.00002" not in ids(index, 'networks -"convolutional neural"')
    assert ids(index, "-graph") == []  # every paper mentions a graph


def test_category_filters_with_archive_prefix(index: TantivyKeywordIndex) -> None:
    assert ids(index, "networks cat:cs.LG") == ["2101.00001"]
    assert ids(index, "networks cat:cs.lg") == ["2101.00001"]
    assert set(ids(index, "networks cat:cs")) == {"2101.00001", "2201.00002", "2301.00003"}
    assert set(ids(index, "networks cat:cs.CV,cs.CL")) == {"2201.00002", "2301.00003"}
    assert "2201.00002" not in ids(index, "networks -cat:cs.CV")


def test_year_author_and_id_filters(index: TantivyKeywordIndex) -> None:
    assert set(ids(index, "networks year:2022..2023")) == {"2201.00002", "2301.00003"}
    assert set(ids(index, "neural year:2023")) == {"2301.00003", "2302.00004"}
    assert ids(index, "networks author:hopper") == ["2201.00002"]
    assert ids(index, 'networks author:"alan turing"') == ["2101.00001"]
    assert ids(index, 'networks author:"turing ada"') == ["2101.00001"]  # every word, any order
    assert set(ids(index, "networks -author:alan")) == {"2201.00002"}
    assert ids(index, "networks id:2301.00003") == ["2301.00003"]


def test_filters_alone_list_newest_first(index: TantivyKeywordIndex) -> None:
    result = index.search(parse_query("cat:cs"), limit=10)
    assert [paper_id for paper_id, _ in result.hits] == ["2301.00003", "2201.00002", "2101.00001"]
    assert result.total == 3


def test_sort_by_date_and_paging(index: TantivyKeywordIndex) -> None:
    assert ids(index, "neural", sort="date") == ["2302.00004", "2301.00003", "2201.00002", "2101.00001"]
    first = index.search(parse_query("neural"), limit=2)
    second = index.search(parse_query("neural"), limit=2, offset=2)
    assert first.total == 4
    assert not {p for p, _ in first.hits} & {p for p, _ in second.hits}


def test_replace_and_delete(index: TantivyKeywordIndex) -> None:
    index.add_or_replace([paper("2101.00001", "Protein folding", "Structures of proteins.")])
    index.commit()
    assert index.doc_count == 4
    assert "2101.00001" not in ids(index, "molecules")
    assert ids(index, "protein") == ["2101.00001"]
    index.delete(["2101.00001"])
    index.commit()
    assert index.doc_count == 3
    assert ids(index, "protein") == []


def test_hostile_queries_search_safely(index: TantivyKeywordIndex) -> None:
    for text in ['title:graph OR 1=1 --', "*:*", "graph^100 (networks", '"', "AND", "\x00", "x" * 5000]:
        index.search(parse_query(text), limit=5)  # must not raise
    assert ids(index, "graph^100 (networks")[0] == "2101.00001"


def test_filter_ids_applies_only_restrictions(index: TantivyKeywordIndex) -> None:
    everything = [p.paper_id for p in CORPUS]
    assert index.filter_ids(parse_query("unrelated words cat:cs"), everything) == {
        "2101.00001", "2201.00002", "2301.00003"}
    assert index.filter_ids(parse_query('"attention read"'), everything) == {"2301.00003"}
    assert index.filter_ids(parse_query("plain words"), everything[:2]) == set(everything[:2])


def test_pinned_ids_for_typed_arxiv_ids_and_exact_titles(index: TantivyKeywordIndex) -> None:
    assert index.pinned_ids(parse_query("2201.00002v3 networks")) == ["2201.00002"]
    assert index.pinned_ids(parse_query("9999.99999")) == []
    assert index.pinned_ids(parse_query("attention FOR language!")) == ["2301.00003"]
    assert index.pinned_ids(parse_query("attention for language cat:cs.CV")) == []


def test_highlight_marks_stemmed_matches(index: TantivyKeywordIndex) -> None:
    segments = index.highlight("Graph neural networks for molecules", parse_query("network molecule"))
    assert [s.text for s in segments if s.match] == ["networks", "molecules"]
    assert "".join(s.text for s in segments) == "Graph neural networks for molecules"
    assert all(not s.match for s in index.highlight("nothing here", parse_query("graph")))


def test_state_file_records_the_change_sequence(tmp_path: Path) -> None:
    keyword = TantivyKeywordIndex(tmp_path / "keyword")
    assert keyword.last_change_seq == 0
    keyword.add_or_replace(CORPUS[:2])
    keyword.commit(last_change_seq=42)
    state = json.loads((tmp_path / "keyword" / STATE_FILE).read_text())
    assert state["last_change_seq"] == 42
    reopened = TantivyKeywordIndex(tmp_path / "keyword")
    assert reopened.last_change_seq == 42
    assert reopened.doc_count == 2
    assert [p for p, _ in reopened.search(parse_query("images"), limit=5).hits] == ["2201.00002"]


def test_an_index_of_another_schema_or_without_state_is_untrusted(tmp_path: Path) -> None:
    directory = tmp_path / "keyword"
    TantivyKeywordIndex(directory).commit(9)
    assert TantivyKeywordIndex(directory, create=False).problem is None
    (directory / STATE_FILE).write_text(json.dumps({"schema_version": -1, "last_change_seq": 9}))
    assert "schema version -1" in str(TantivyKeywordIndex(directory).problem)
    (directory / STATE_FILE).unlink()
    reopened = TantivyKeywordIndex(directory)
    assert "state file" in str(reopened.problem) and reopened.last_change_seq == 0


def test_files_that_are_not_an_index_are_refused_not_overwritten(tmp_path: Path) -> None:
    directory = tmp_path / "keyword"
    directory.mkdir()
    (directory / "stale-segment").write_text("old")
    with pytest.raises(DamagedFiles, match="meta.json is missing"):
        TantivyKeywordIndex(directory)
    assert (directory / "stale-segment").read_text() == "old"
    with pytest.raises(DamagedFiles, match="holds no index"):
        TantivyKeywordIndex(tmp_path / "absent", create=False)


def test_the_state_file_is_written_crash_safely(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    events = record_syncs(monkeypatch)
    keyword = TantivyKeywordIndex(tmp_path)
    keyword.add_or_replace(CORPUS[:2])
    keyword.commit(7)
    state = str(tmp_path / STATE_FILE)
    assert events[-3:] == [("fsync", state + ".tmp"), ("rename", state), ("fsync", str(tmp_path))]
    assert TantivyKeywordIndex(tmp_path).last_change_seq == 7
