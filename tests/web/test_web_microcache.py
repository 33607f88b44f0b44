"""The response cache: a repeated read is served without running the route again, until the
catalog changes, the entry ages out, or the cache is switched off."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient
from web_corpus import MATH_ID, make_papercast

from papercast.bootstrap import Papercast
from papercast.domain.papers import PaperRecord
from papercast.web.app import create_app
from papercast.web.microcache import VERSION_TTL, CachedResponse, ResponseCache, ResponseCacheMiddleware


class SteppedClock:
    """Wall time fixed, monotonic time moved by the test."""

    def __init__(self) -> None:
        self.seconds = 100.0

    def now(self) -> datetime:
        return datetime(2026, 1, 1, tzinfo=UTC)

    def monotonic(self) -> float:
        return self.seconds

    def sleep(self, seconds: float) -> None:
        self.seconds += seconds


class CountingSearch:
    """A search backend that counts its searches; `degraded` answers as after an encoder timeout."""

    def __init__(self, degraded: bool = False) -> None:
        self.calls = 0
        self.degraded = degraded
        self.sequences = (1, 1)

    def search(self, query_text: str, sort: str, offset: int, limit: int) -> SimpleNamespace:
        self.calls += 1
        return SimpleNamespace(results=[SimpleNamespace(paper_id=MATH_ID, score=1.0, snippet="")],
                               total_estimate=1, mode="keyword" if self.degraded else "test",
                               warnings=[], took_ms=0.0, degraded=self.degraded)

    def index_version(self) -> tuple[int, int]:
        return self.sequences

    def similar(self, paper_id: str, limit: int) -> SimpleNamespace:
        return SimpleNamespace(results=[], mode="test")


@pytest.fixture
def clock() -> SteppedClock:
    return SteppedClock()


@pytest.fixture
def cached_papercast(database_url: str, tmp_path: Path, clock: SteppedClock) -> Iterator[Papercast]:
    app = make_papercast(database_url, tmp_path)
    app.clock = clock  # the web app reads time through papercast's clock
    yield app
    app.close()


def test_repeated_reads_are_served_from_the_cache_until_the_catalog_changes(
        cached_papercast: Papercast, clock: SteppedClock) -> None:
    search = CountingSearch()
    with TestClient(create_app(cached_papercast.web_services(search_backend=search))) as client:
        first = client.get("/search?q=sparse")
        second = client.get("/search?q=sparse")
        assert search.calls == 1 and first.text == second.text and second.headers["etag"]
        assert second.headers["content-security-policy"]  # outer headers still added to hits
        revalidated = client.get("/search?q=sparse", headers={"If-None-Match": first.headers["etag"]})
        assert revalidated.status_code == 304
        client.get("/search?q=other")
        assert search.calls == 2  # another URL is another entry
        cached_papercast.ingest.ingest([PaperRecord(paper_id="2103.00001", title="New", source="test")])
        clock.seconds += 2  # past the time the catalog version is reused
        client.get("/search?q=sparse")
        assert search.calls == 3
        client.get("/search?q=sparse")
        assert search.calls == 3
        clock.seconds += 3600  # entries age out
        client.get("/search?q=sparse")
        assert search.calls == 4


def test_errors_and_uncacheable_answers_are_not_kept(cached_papercast: Papercast) -> None:
    search = CountingSearch()
    with TestClient(create_app(cached_papercast.web_services(search_backend=search))) as client:
        assert client.get("/api/v1/papers/2301.99999").status_code == 404
        assert client.get("/healthz").status_code == 200
        metrics = client.get("/metrics").text
        assert client.get("/metrics").text != metrics  # counted anew, never replayed


def test_cache_can_be_switched_off(database_url: str, tmp_path: Path) -> None:
    app = make_papercast(database_url, tmp_path, web_response_cache_entries=0)
    search = CountingSearch()
    try:
        with TestClient(create_app(app.web_services(search_backend=search))) as client:
            client.get("/search?q=sparse")
            client.get("/search?q=sparse")
        assert search.calls == 2
    finally:
        app.close()


def test_least_recently_used_entries_go_first() -> None:
    cache = ResponseCache(max_entries=2, max_age=60, version=lambda: 1, now=lambda: 0.0)

    def entry(body: bytes) -> CachedResponse:
        return CachedResponse(1, 0.0, 200, [], body, None)

    cache.put(("h", "/a", ""), entry(b"a"))
    cache.put(("h", "/b", ""), entry(b"b"))
    assert cache.get(("h", "/a", ""), 1) is not None  # /a is now the most recent
    cache.put(("h", "/c", ""), entry(b"c"))
    assert cache.get(("h", "/b", ""), 1) is None and len(cache) == 2
    assert cache.get(("h", "/a", ""), 2) is None  # another catalog version


def test_an_answer_is_not_served_once_the_search_index_moved_on(cached_papercast: Papercast,
                                                               clock: SteppedClock) -> None:
    search = CountingSearch()
    with TestClient(create_app(cached_papercast.web_services(search_backend=search))) as client:
        for path in ("/search?q=sparse", "/api/v1/search?q=sparse", "/feeds/search.atom?q=sparse"):
            client.get(path)
            client.get(path)
        assert search.calls == 3
        search.sequences = (1, 2)  # the vectors caught up; the catalog did not change
        clock.seconds += VERSION_TTL + 1
        for path in ("/search?q=sparse", "/api/v1/search?q=sparse", "/feeds/search.atom?q=sparse"):
            client.get(path)
        assert search.calls == 6


def test_a_degraded_answer_is_never_kept(cached_papercast: Papercast) -> None:
    search = CountingSearch(degraded=True)
    with TestClient(create_app(cached_papercast.web_services(search_backend=search))) as client:
        for path in ("/search?q=sparse", "/api/v1/search?q=sparse", "/feeds/search.atom?q=sparse"):
            first, second = client.get(path), client.get(path)
            assert first.status_code == second.status_code == 200, path
            assert first.headers["cache-control"] == "no-store", path  # nor by browsers or proxies
        assert search.calls == 6
        assert client.get("/api/v1/search?q=sparse").json()["degraded"] is True


def test_a_search_answered_before_the_index_caught_up_is_not_kept_after(cached_papercast: Papercast,
                                                                      clock: SteppedClock) -> None:
    follower = cached_papercast.index_follower()
    follower.catch_up()
    service = cached_papercast.search_service(semantic=False)
    with TestClient(create_app(cached_papercast.web_services(search_backend=service))) as client:
        cached_papercast.ingest.ingest([PaperRecord(paper_id="2104.00001", title="Zebrafish telemetry",
                                                    source="test")])
        clock.seconds += VERSION_TTL + 1
        assert client.get("/api/v1/search?q=zebrafish").json()["total_estimate"] == 0  # not indexed yet
        follower.catch_up()
        clock.seconds += VERSION_TTL + 1
        assert client.get("/api/v1/search?q=zebrafish").json()["total_estimate"] == 1


class CountingApp:
    """An ASGI app answering every GET `public`, optionally setting a cookie; counts its calls."""

    def __init__(self, set_cookie: bool = False) -> None:
        self.calls = 0
        self.set_cookie = set_cookie

    async def __call__(self, scope: dict[str, object], receive: object, send: object) -> None:
        self.calls += 1
        headers = [(b"cache-control", b"public, max-age=60"), (b"content-type", b"text/plain")]
        if self.set_cookie:
            headers.append((b"set-cookie", b"papercast_csrf=abc; Path=/sign-in"))
        await send({"type": "http.response.start", "status": 200, "headers": headers})  # type: ignore[operator]
        await send({"type": "http.response.body", "body": b"hello"})  # type: ignore[operator]


def _through_cache(app: CountingApp) -> None:
    cache = ResponseCache(max_entries=10, max_age=60, version=lambda: 1, now=lambda: 0.0)
    client = TestClient(ResponseCacheMiddleware(app, cache))  # type: ignore[arg-type]  # no lifespan
    for _ in range(2):
        assert client.get("/page").text == "hello"


def test_a_response_that_sets_a_cookie_is_never_kept() -> None:
    app = CountingApp(set_cookie=True)
    _through_cache(app)
    assert app.calls == 2
    plain = CountingApp()
    _through_cache(plain)
    assert plain.calls == 1  # the same answer without the cookie is kept


@pytest.mark.parametrize("headers", [{"Authorization": "Bearer pct_x"}, {"Cookie": "papercast_session=abc"}],
                         ids=["bearer", "session-cookie"])
def test_a_request_with_credentials_neither_reads_nor_fills_the_cache(headers: dict[str, str]) -> None:
    app = CountingApp()
    cache = ResponseCache(max_entries=10, max_age=60, version=lambda: 1, now=lambda: 0.0)
    client = TestClient(ResponseCacheMiddleware(app, cache))  # type: ignore[arg-type]  # no lifespan
    client.get("/page")  # an anonymous read fills the cache
    client.get("/page", headers=headers)
    client.get("/page", headers=headers)
    assert app.calls == 3 and len(cache) == 1
    client.get("/page")
    assert app.calls == 3  # anonymous readers still share the entry
