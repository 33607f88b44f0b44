"""The search service over a real keyword index, a real vector index and a tiny concept encoder."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from datetime import date

import numpy as np
import pytest

from papercast.domain.errors import InvalidInput, NotFound
from papercast.domain.fusion import FusionWeights
from papercast.domain.papers import Paper
from papercast.index.keyword import TantivyKeywordIndex
from papercast.index.vectors import VectorIndex
from papercast.services.search import SearchService, SearchTuning
from support.papers import InMemoryPapers

# Words that mean the same thing share a dimension: the encoder "understands" synonyms.
CONCEPTS = {"car": 0, "automobile": 0, "vehicle": 0, "protein": 1, "enzyme": 1, "galaxy": 2, "star": 2,
            "network": 3, "networks": 3, "image": 4, "images": 4, "picture": 4}


class ConceptEmbedder:
    model_id = "concepts@test"
    dimension = 6

    def __init__(self, delay: float = 0.0, broken: bool = False) -> None:
        self.delay, self.broken = delay, broken

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        return np.stack([self.embed_query(text) for text in texts])

    def embed_query(self, text: str) -> np.ndarray:
        if self.broken:
            raise RuntimeError("encoder crashed")
        time.sleep(self.delay)
        vector = np.zeros(self.dimension, dtype=np.float32)
        for word in text.lower().replace(".", " ").split():
            vector[CONCEPTS.get(word, 5)] += 1.0 if word in CONCEPTS else 0.05
        return vector / np.linalg.norm(vector)


PAPERS = [
    Paper("2101.00001", "Automobile engines", "Combustion in every automobile built since 1950.",
          categories=("physics.app-ph",), announced_on=date(2021, 1, 4)),
    Paper("2201.00002", "Car crash tests", "We crash a car into a wall.", categories=("cs.RO",),
          announced_on=date(2022, 1, 3)),
    Paper("2301.00003", "Enzyme kinetics", "Protein catalysis rates.", categories=("q-bio.BM",),
          announced_on=date(2023, 1, 2)),
    Paper("2302.00004", "Star formation", "A galaxy forms stars.", categories=("astro-ph.GA",),
          announced_on=date(2023, 2, 1)),
    Paper("2303.00005", "Vehicle routing with graph networks", "Routing a vehicle fleet.",
          categories=("cs.LG",), announced_on=date(2023, 3, 1)),
]



@pytest.fixture(scope="module")
def keyword() -> TantivyKeywordIndex:
    index = TantivyKeywordIndex()
    index.add_or_replace(PAPERS)
    index.commit()
    return index


def vectors(embedder: ConceptEmbedder) -> VectorIndex:
    index = VectorIndex(embedder.dimension)
    texts = [f"{p.title}. {p.abstract}" for p in PAPERS]
    index.build([p.paper_id for p in PAPERS], embedder.embed_documents(texts))
    return index


def service(keyword: TantivyKeywordIndex, embedder: ConceptEmbedder | None = None, *,
            with_vectors: bool = True, **tuning: float) -> SearchService:
    encoder = embedder or ConceptEmbedder()
    return SearchService(keyword, vectors(ConceptEmbedder()) if with_vectors else None,
                         encoder if embedder is not None or with_vectors else None, InMemoryPapers(PAPERS),
                         SearchTuning(**tuning))  # type: ignore[arg-type]


def test_hybrid_finds_synonyms_that_keywords_miss(keyword: TantivyKeywordIndex) -> None:
    response = service(keyword).search("car")
    assert response.mode == "hybrid" and not response.degraded
    assert response.ranking[0] == "2201.00002"  # the keyword and the meaning agree
    assert {"2101.00001", "2303.00005"} <= set(response.ranking[:3])  # automobile, vehicle: meaning only
    assert service(keyword).search("car", mode="keyword").ranking == ["2201.00002"]


def test_vector_mode_ranks_by_meaning(keyword: TantivyKeywordIndex) -> None:
    response = service(keyword).search("enzyme", mode="vector")
    assert response.mode == "vector"
    assert response.ranking[0] == "2301.00003"


@pytest.mark.parametrize(("embedder", "reason"), [
    (ConceptEmbedder(broken=True), "failed"), (ConceptEmbedder(delay=0.5), "longer than"),
])
def test_a_failing_or_slow_encoder_degrades_to_keywords(keyword: TantivyKeywordIndex,
                                                         embedder: ConceptEmbedder, reason: str) -> None:
    response = service(keyword, embedder, embed_timeout=0.05).search("car")
    assert response.mode == "keyword" and response.degraded
    assert response.ranking == ["2201.00002"]
    assert any(reason in warning for warning in response.warnings)


def test_without_vectors_search_is_keyword_only(keyword: TantivyKeywordIndex) -> None:
    response = service(keyword, with_vectors=False).search("car")
    assert (response.mode, response.degraded, response.ranking) == ("keyword", True, ["2201.00002"])


def test_filters_restrict_semantic_candidates_too(keyword: TantivyKeywordIndex) -> None:
    assert service(keyword).search("car cat:cs.LG").ranking == ["2303.00005"]
    assert "2101.00001" not in service(keyword).search("car year:2022..").ranking
    assert "2303.00005" not in service(keyword).search("car -routing").ranking


def test_exact_id_and_title_are_pinned_first(keyword: TantivyKeywordIndex) -> None:
    response = service(keyword).search("2302.00004 car")
    assert response.ranking[0] == "2302.00004" and response.results[0].pinned
    assert service(keyword).search("star formation").results[0].pinned


def test_sorts(keyword: TantivyKeywordIndex) -> None:
    by_date = service(keyword).search("car", sort="date")
    dates = [hit.announced_on for hit in by_date.results]
    assert dates == sorted(dates, reverse=True)
    trending = service(keyword).search("car", sort="trending")
    assert any("trending" in warning for warning in trending.warnings)
    with pytest.raises(InvalidInput):
        service(keyword).search("car", sort="random")
    listing = service(keyword).search("cat:cs")
    assert listing.ranking == ["2303.00005", "2201.00002"]


def test_empty_and_out_of_range_requests(keyword: TantivyKeywordIndex) -> None:
    empty = service(keyword).search('"" -')
    assert empty.results == [] and empty.mode == "none" and empty.warnings
    far = service(keyword).search("car", offset=5000)
    assert far.results == [] and any("first 1000" in warning for warning in far.warnings)
    assert service(keyword).search("car", limit=0).limit == 1
    assert service(keyword).search("car", limit=10_000).limit == 100


def test_hits_carry_highlights_and_serialise(keyword: TantivyKeywordIndex) -> None:
    response = service(keyword).search("crash <b>")
    hit = response.results[0]
    assert [s.text for s in hit.title_segments if s.match] == ["crash"]
    assert any(s.match for s in hit.snippet)
    payload = json.loads(json.dumps(response.as_dict()))
    assert payload["results"][0]["id"] == "2201.00002"
    assert payload["results"][0]["title_highlight"][1] == {"text": "crash", "match": True}


def test_similar_papers_exclude_the_paper_itself(keyword: TantivyKeywordIndex) -> None:
    response = service(keyword).similar("arXiv:2201.00002")
    assert response.mode == "vector"
    assert "2201.00002" not in response.ranking
    assert response.ranking[0] in {"2101.00001", "2303.00005"}
    with pytest.raises(NotFound):
        service(keyword).similar("2501.99999")
    fallback = service(keyword, with_vectors=False).similar("2201.00002")
    assert fallback.mode == "keyword" and fallback.degraded and "2201.00002" not in fallback.ranking


def test_pages_do_not_overlap(keyword: TantivyKeywordIndex) -> None:
    search = service(keyword)
    pages = [search.search("car networks", offset=offset, limit=2).ranking for offset in (0, 2, 4)]
    assert [paper_id for page in pages for paper_id in page] == search.search("car networks", limit=6).ranking


def test_a_phrase_no_paper_has_is_searched_as_words(keyword: TantivyKeywordIndex) -> None:
    response = service(keyword).search('"wall crash"')
    assert response.ranking[0] == "2201.00002"
    assert any("exact phrase" in warning for warning in response.warnings)
    assert service(keyword).search('"crash a car"').warnings == ()


# A floor between what the concept encoder gives unrelated text (under 0.2) and related text (0.9).
FLOOR = 0.5


def test_a_query_close_to_no_paper_finds_nothing_and_says_so(keyword: TantivyKeywordIndex) -> None:
    search = service(keyword, fusion=FusionWeights(similarity_floor=FLOOR))
    for mode in ("hybrid", "vector"):
        response = search.search("zzqqxxnonsenseword", mode=mode)
        assert (response.results, response.total_estimate) == ([], 0), mode
        assert response.similarity_floor == FLOOR and response.below_floor == len(PAPERS), mode
        assert any("close to them in meaning" in warning for warning in response.warnings), mode
        assert response.as_dict()["below_floor"] == len(PAPERS)
    # Papers found by meaning alone still come when they are close: automobile and vehicle for "car".
    found = search.search("car")
    assert set(found.ranking) == {"2201.00002", "2101.00001", "2303.00005"} and found.below_floor == 2
    assert found.total_estimate == 3 and not any("meaning" in warning for warning in found.warnings)
    # A keyword match stays whatever its cosine.
    assert search.search("wall").ranking == ["2201.00002"]


MANY = [
    *(Paper(f"2401.{n:05d}", f"Car study {n}", f"The car number {n}.", announced_on=date(2024, 1, n % 28 + 1))
      for n in range(1, 21)),
    *(Paper(f"2402.{n:05d}", f"Automobile survey {n}", f"An automobile, {n}.", announced_on=date(2024, 2, n))
      for n in range(1, 9)),
    *(Paper(f"2403.{n:05d}", f"Galaxy survey {n}", f"Stars in galaxy {n}.", announced_on=date(2024, 3, n))
      for n in range(1, 9)),
]


def test_every_page_reports_one_total_and_the_pages_tile_the_results() -> None:
    keyword = TantivyKeywordIndex()
    keyword.add_or_replace(MANY)
    keyword.commit()
    embedder = ConceptEmbedder()
    index = VectorIndex(embedder.dimension)
    texts = [f"{p.title}. {p.abstract}" for p in MANY]
    index.build([p.paper_id for p in MANY], embedder.embed_documents(texts))
    # A first depth of 4 and a window of 40, so that paging crosses from one depth to the other.
    tuning = SearchTuning(fusion=FusionWeights(candidates=4, similarity_floor=FLOOR), max_window=40)
    search = SearchService(keyword, index, embedder, InMemoryPapers(MANY), tuning)  # type: ignore[arg-type]
    for query in ("car", "car automobile", "automobile"):
        total = search.search(query, limit=3).total_estimate
        pages = [search.search(query, offset=offset, limit=3) for offset in range(0, total + 6, 3)]
        assert {page.total_estimate for page in pages} == {total}, query
        listed = [paper_id for page in pages for paper_id in page.ranking]
        assert len(listed) == len(set(listed)) == total, query  # no paper twice, none missing
        assert all(len(page.results) == 3 for page in pages[:total // 3]), query
        assert not {paper_id for paper_id in listed if paper_id.startswith("2403.")}, query  # not close
    assert search.search("car", limit=3).total_estimate == 20  # every keyword match can be reached
    by_date = [search.search("car", sort="date", offset=offset, limit=3) for offset in (0, 3)]
    assert {page.total_estimate for page in by_date} == {4}  # the first depth, newest first
