"""Atom feeds: valid Atom 1.0 that feedparser reads without complaint, on both engines."""

from __future__ import annotations

import feedparser
from fastapi.testclient import TestClient
from web_corpus import FILLER_COUNT, HOSTILE_ID, HOSTILE_TITLE, MATH_ID, OLD_STYLE_ID

ATOM = "application/atom+xml"


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
    assert links["self"] == "http://testserver/feeds/recent.atom" and links["alternate"] == "http://testserver/"
    hostile = next(e for e in feed.entries if e.link == f"http://testserver/papers/{HOSTILE_ID}")
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
    assert old.entries[0].link == f"http://testserver/papers/{OLD_STYLE_ID}"
    assert client.get("/feeds/categories/bad!cat.atom").status_code == 422
    assert client.get("/feeds/search.atom").status_code == 422


def test_feed_304_when_unchanged(client: TestClient) -> None:
    first = client.get("/feeds/recent.atom")
    again = client.get("/feeds/recent.atom", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
