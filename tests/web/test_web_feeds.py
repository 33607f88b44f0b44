"""Atom feeds: valid Atom 1.0 that feedparser reads without complaint, on both engines; links
and ids from the configured base URL whatever the Host header, dates from stored data only."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import feedparser
import pytest
from fastapi.testclient import TestClient
from web_corpus import (
    FILLER_COUNT,
    HOSTILE_ID,
    HOSTILE_TITLE,
    LOCAL_ID,
    MATH_ID,
    OLD_STYLE_ID,
    make_papercast,
)

from papercast.bootstrap import Papercast
from papercast.settings import DEFAULT_BASE_URL
from papercast.web.app import create_app

ATOM = "application/atom+xml"
BASE_URL = "https://papers.example.org/pc"
FEEDS = ("/feeds/recent.atom", "/feeds/search.atom?q=paper", "/feeds/categories/cs.AI.atom")
NONSENSE_FEED = "/feeds/search.atom?q=zzqqxxnonsenseword"


def parse(client: TestClient, path: str) -> feedparser.FeedParserDict:
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(ATOM)
    assert response.headers["etag"]
    feed = feedparser.parse(response.content)
    assert not feed.bozo, feed.get("bozo_exception")
    assert feed.version == "atom10"
    return feed


def test_recent_feed(client: TestClient) -> None:
    feed = parse(client, "/feeds/recent.atom")
    assert feed.feed.title == "papercast: recent papers"
    assert len(feed.entries) == FILLER_COUNT + 4  # every paper (fewer than the feed size)
    links = {link.rel: link.href for link in feed.feed.links}
    assert links == {"self": f"{DEFAULT_BASE_URL}/feeds/recent.atom", "alternate": f"{DEFAULT_BASE_URL}/"}
    hostile = next(e for e in feed.entries if e.link == f"{DEFAULT_BASE_URL}/papers/{HOSTILE_ID}")
    assert hostile.title == HOSTILE_TITLE  # text, unharmed, not markup
    assert hostile.id == f"https://arxiv.org/abs/{HOSTILE_ID}"
    assert hostile.updated.startswith("2021-01-04T")
    assert [a.name for a in hostile.authors][0] == "Ada Lovelace"
    assert [t.term for t in hostile.tags] == ["cs.LG"]
    assert hostile.summary.startswith("<img src=x onerror=alert(1)>")
    assert hostile.summary_detail.type == "text/plain"


def test_search_feed_is_newest_first(client: TestClient) -> None:
    feed = parse(client, "/feeds/search.atom?q=vision")
    assert len(feed.entries) == FILLER_COUNT
    assert feed.entries[0].link.endswith(f"/papers/2102.{FILLER_COUNT:05d}")
    assert "vision" in feed.feed.title
    empty = parse(client, "/feeds/search.atom?q=zzzunknownword")
    assert empty.entries == []


def test_category_feed(client: TestClient) -> None:
    feed = parse(client, "/feeds/categories/cs.LG.atom")
    assert [e.link.rsplit("/papers/", 1)[1] for e in feed.entries] == [MATH_ID, HOSTILE_ID]
    old = parse(client, "/feeds/categories/hep-th.atom")
    assert old.entries[0].link == f"{DEFAULT_BASE_URL}/papers/{OLD_STYLE_ID}"
    assert client.get("/feeds/categories/bad!cat.atom").status_code == 422
    assert client.get("/feeds/search.atom").status_code == 422


def test_feed_304_when_unchanged(client: TestClient) -> None:
    first = client.get("/feeds/recent.atom")
    again = client.get("/feeds/recent.atom", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304


class MovingClock:
    """A wall clock the test moves (the catalog was written by the real one)."""

    def __init__(self) -> None:
        self.moment = datetime(2030, 1, 1, tzinfo=UTC)

    def now(self) -> datetime:
        return self.moment

    def monotonic(self) -> float:
        return 0.0

    def sleep(self, seconds: float) -> None:
        self.moment = self.moment.replace(year=self.moment.year + 1)


@pytest.fixture
def configured(database_url: str, tmp_path: Path) -> Iterator[Papercast]:
    """The catalog with a base URL, no response cache (every request builds its feed) and a
    clock the test moves."""
    papercast = make_papercast(database_url, tmp_path, base_url=BASE_URL + "/", web_response_cache_entries=0)
    papercast.clock = MovingClock()
    yield papercast
    papercast.close()


def test_links_and_ids_come_from_the_base_url_whatever_the_host_header(configured: Papercast) -> None:
    with TestClient(create_app(configured.web_services())) as client:
        for path in FEEDS:
            first = client.get(path, headers={"Host": "papers.example.org"})
            other = client.get(path + "&utm=x" if "?" in path else path + "?utm=x",
                               headers={"Host": "attacker.example", "X-Forwarded-Host": "attacker.example"})
            assert first.status_code == other.status_code == 200, path
            assert first.content == other.content, path
            assert b"attacker" not in other.content and b"testserver" not in other.content, path
            feed = feedparser.parse(first.content)
            assert feed.feed.id == feed.feed.links[0].href == BASE_URL + path, path
            for entry in feed.entries:
                assert entry.link.startswith(BASE_URL + "/papers/"), entry.link
    local = next(e for e in feedparser.parse(first.content).entries if e.link.endswith(LOCAL_ID))
    assert local.id == f"tag:papers.example.org,2026:papers/{LOCAL_ID}"


def test_entry_and_feed_dates_come_from_stored_data_not_the_build_time(configured: Papercast) -> None:
    with TestClient(create_app(configured.web_services())) as client:
        built = {path: client.get(path).content for path in (*FEEDS, NONSENSE_FEED)}
        configured.clock.sleep(1)  # a year later, nothing stored has changed
        for path, body in built.items():
            assert client.get(path).content == body, path
    stored = configured.papers.get(LOCAL_ID)
    assert stored is not None and stored.updated_at is not None
    recent = feedparser.parse(built["/feeds/recent.atom"])
    local = next(e for e in recent.entries if e.link.endswith(LOCAL_ID))
    assert local.updated == stored.updated_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    empty = feedparser.parse(built[NONSENSE_FEED])
    assert empty.entries == [] and empty.feed.updated == "1970-01-01T00:00:00Z"
