"""The pages and the API over the real search service (keyword ranking over a followed index):
what `papercast serve` wires in, on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from web_corpus import FILLER_COUNT, HOSTILE_ID, MATH_ID

from papercast.bootstrap import Papercast
from papercast.cli.serve import background_worker
from papercast.domain.papers import PaperRecord
from papercast.web.app import create_app


@pytest.fixture
def indexed_client(papercast: Papercast) -> Iterator[TestClient]:
    papercast.index_follower().catch_up()
    service = papercast.search_service(semantic=False)
    with TestClient(create_app(papercast, search_backend=service)) as client:
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


def test_background_worker_keeps_the_index_following(papercast: Papercast) -> None:
    papercast.ingest.ingest([PaperRecord(paper_id="2104.00001", title="Zebrafish telemetry", source="test")])
    with background_worker(papercast, interval=0.05):
        follower = papercast.index_follower()
        for _ in range(600):  # up to 30 s on a busy machine; it usually takes well under one
            if follower.status().keyword_seq >= papercast.papers.max_change_seq():
                break
            time.sleep(0.05)
    assert follower.status().keyword_seq == papercast.papers.max_change_seq()
