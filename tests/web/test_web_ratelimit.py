"""The per-client token bucket, alone with a fake clock and in the app (429 + Retry-After)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from web_corpus import make_papercast

from papercast.bootstrap import Papercast
from papercast.web.app import create_app
from papercast.web.ratelimit import TokenBuckets


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_bucket_allows_a_burst_then_the_rate() -> None:
    time = FakeTime()
    buckets = TokenBuckets(per_minute=60, burst=3, now=time)
    assert [buckets.take("a").allowed for _ in range(4)] == [True, True, True, False]
    refused = buckets.take("a")
    assert not refused.allowed and refused.retry_after == pytest.approx(1.0)
    assert buckets.take("b").allowed  # another client has its own bucket
    time.now += 1.0
    assert buckets.take("a").allowed and not buckets.take("a").allowed
    time.now += 3600
    assert [buckets.take("a").allowed for _ in range(4)] == [True, True, True, False]  # capped at burst


def test_bucket_forgets_the_oldest_clients_beyond_its_size() -> None:
    buckets = TokenBuckets(per_minute=1, burst=1, now=FakeTime(), max_clients=2)
    assert buckets.take("a").allowed and not buckets.take("a").allowed
    buckets.take("b")
    buckets.take("c")  # "a" is forgotten, so it starts again with a full bucket
    assert buckets.take("a").allowed


@pytest.fixture
def limited(database_url: str, tmp_path: Path) -> Iterator[Papercast]:
    app = make_papercast(database_url, tmp_path, web_rate_limit_per_minute=6, web_rate_limit_burst=3)
    yield app
    app.close()


def test_app_answers_429_with_retry_after(limited: Papercast) -> None:
    with TestClient(create_app(limited.web_services())) as client:
        assert [client.get("/api/v1/papers").status_code for _ in range(3)] == [200, 200, 200]
        api = client.get("/api/v1/papers")
        assert api.status_code == 429
        # One token every 10 s at 6 a minute, less the time the first requests took.
        assert 1 <= int(api.headers["retry-after"]) <= 10
        assert api.headers["content-type"] == "application/problem+json"
        assert api.json()["status"] == 429
        assert api.headers["access-control-allow-origin"] == "*"
        assert api.headers["x-content-type-options"] == "nosniff"
        page = client.get("/")
        assert page.status_code == 429 and "text/html" in page.headers["content-type"]
        assert "Too many requests" in page.text and int(page.headers["retry-after"]) >= 1
        # never limited: health checks, metrics and static files
        assert client.get("/healthz").status_code == 200
        assert client.get("/metrics").status_code == 200
        assert client.get("/static/papercast.css").status_code == 200
