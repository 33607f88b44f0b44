"""The pages and the API over the real search service (keyword ranking over a followed index):
what `papercast serve` wires in, on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from web_corpus import FILLER_COUNT, HOSTILE_ID, MATH_ID, make_papercast

from papercast.bootstrap import Papercast
from papercast.cli.serve import web_app
from papercast.domain.fusion import LEXICAL_ENCODER_WEIGHTS
from papercast.domain.papers import PaperRecord
from papercast.services.search import SearchTuning
from papercast.web.app import create_app


@pytest.fixture
def indexed_client(papercast: Papercast) -> Iterator[TestClient]:
    papercast.index_follower().catch_up()
    service = papercast.search_service(semantic=False)
    with TestClient(create_app(papercast.web_services(search_backend=service))) as client:
        yield client


def test_search_pages_and_api_use_the_index(indexed_client: TestClient) -> None:
    body = indexed_client.get("/api/v1/search?q=convolutional vision&limit=5").json()
    assert body["mode"] == "keyword" and body["total_estimate"] == FILLER_COUNT
    assert len(body["results"]) == 5 and body["links"]["next"]
    assert any(segment["match"] for segment in body["results"][0]["snippet"])
    html = indexed_client.get("/search?q=sparse recovery").text
    assert f'href="/papers/{MATH_ID}"' in html
    assert "<mark>vision</mark>" in indexed_client.get("/search?q=vision").text.lower()
    hostile = indexed_client.get("/search?q=alert").text
    assert f'href="/papers/{HOSTILE_ID}"' in hostile and "<script>alert(1)</script>" not in hostile


def test_similar_papers_come_from_the_search_service(indexed_client: TestClient) -> None:
    body = indexed_client.get("/api/v1/papers/2102.00001/similar?limit=3").json()
    assert body["mode"] in ("keyword", "vector") and len(body["results"]) == 3
    assert "2102.00001" not in [result["paper"]["id"] for result in body["results"]]
    html = indexed_client.get("/papers/2102.00001").text
    assert "Similar papers" in html and "More in" not in html


@pytest.fixture
def hashing_papercast(database_url: str, tmp_path: Path) -> Iterator[Papercast]:
    """The web corpus with the hashing encoder: the worker embeds it in a moment."""
    app = make_papercast(database_url, tmp_path, embedding_model="hashing")
    yield app
    app.close()


def test_the_served_app_runs_a_worker_that_keeps_the_index_following(hashing_papercast: Papercast) -> None:
    papercast = hashing_papercast
    papercast.ingest.ingest([PaperRecord(paper_id="2104.00001", title="Zebrafish telemetry", source="test")])
    follower = papercast.index_follower()
    with TestClient(web_app(papercast, follow=True)):  # the app's lifespan starts and stops the worker
        for _ in range(600):  # up to 30 s on a busy machine; it usually takes well under one
            if follower.status().keyword_seq >= papercast.papers.max_change_seq():
                break
            time.sleep(0.05)
    assert follower.status().keyword_seq == papercast.papers.max_change_seq()
    assert {job.kind for job in papercast.jobs.list()} >= {"embed-backlog"}  # the backlog, as a job


def test_serve_without_a_worker_leaves_the_index_alone(hashing_papercast: Papercast) -> None:
    papercast = hashing_papercast
    papercast.ingest.ingest([PaperRecord(paper_id="2104.00002", title="Quiet pond", source="test")])
    follower = papercast.index_follower()
    with TestClient(web_app(papercast, follow=False)) as client:
        assert client.get("/healthz").status_code == 200
    assert follower.status().keyword_seq == 0 and papercast.jobs.list() == []


@pytest.fixture
def semantic_client(database_url: str, tmp_path: Path) -> Iterator[TestClient]:
    """Hybrid search with the hashing encoder, its floor set where nonsense falls under it (the
    hashing encoder's cosines for unrelated text reach about 0.25)."""
    papercast = make_papercast(database_url, tmp_path, embedding_model="hashing")
    papercast.embedding_service().catch_up()
    papercast.index_follower().catch_up()
    tuning = SearchTuning(fusion=replace(LEXICAL_ENCODER_WEIGHTS, similarity_floor=0.5))
    service = papercast.search_service(tuning=tuning)
    try:
        with TestClient(create_app(papercast.web_services(search_backend=service))) as client:
            yield client
    finally:
        service.close()
        papercast.close()


def test_a_query_close_to_nothing_answers_no_results_everywhere(semantic_client: TestClient) -> None:
    body = semantic_client.get("/api/v1/search?q=zzqqxxnonsenseword").json()
    assert (body["mode"], body["results"], body["total_estimate"]) == ("hybrid", [], 0)
    assert body["similarity_floor"] == 0.5 and body["below_floor"] > 0 and body["links"]["next"] is None
    assert any("close to them in meaning" in warning for warning in body["warnings"])
    page = semantic_client.get("/search?q=zzqqxxnonsenseword")
    assert page.status_code == 200 and "No papers match" in page.text
    assert "close to them in meaning" in page.text
    assert "/papers/" not in page.text.split("<main", 1)[-1]
    feed = semantic_client.get("/feeds/search.atom?q=zzqqxxnonsenseword")
    assert feed.status_code == 200 and b"<entry>" not in feed.content
    found = semantic_client.get("/api/v1/search?q=vision").json()  # keyword matches are unaffected
    assert found["total_estimate"] == FILLER_COUNT
