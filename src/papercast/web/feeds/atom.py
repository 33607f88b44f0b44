"""Building Atom 1.0 documents (RFC 4287) with ElementTree, so every text is XML-escaped.

Titles and summaries are `type="text"`: LaTeX stays as written, and nothing from a paper can
become markup in a feed reader. Characters XML 1.0 forbids (control characters) are dropped.
A feed is a function of the stored papers and the configured base URL alone, never of the
request or the clock, so two builds of one feed are the same bytes (and the same ETag).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from urllib.parse import quote, urlsplit
from xml.etree.ElementTree import Element, SubElement, tostring

from papercast.domain.papers import Paper

ATOM_NS = "http://www.w3.org/2005/Atom"
ATOM_MEDIA_TYPE = "application/atom+xml"
# `<updated>` of a feed without entries: nothing in it ever changed.
EMPTY_FEED_UPDATED = datetime(1970, 1, 1, tzinfo=UTC)
# The date in the tag: URIs of papers without an arXiv id (RFC 4151); fixed, so ids never move.
TAG_DATE = "2026"
_NOT_XML = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@dataclass(frozen=True)
class FeedInfo:
    """The feed itself: its title, where it lives (`path` with its query) and the HTML page it
    mirrors, both under `base_url` (the public address, `PAPERCAST_BASE_URL`)."""

    title: str
    path: str
    html_path: str
    base_url: str

    @property
    def self_url(self) -> str:
        return self.base_url + self.path


def build_feed(info: FeedInfo, papers: Sequence[Paper]) -> bytes:
    feed = Element("feed", xmlns=ATOM_NS)
    _text(feed, "id", info.self_url)
    _text(feed, "title", info.title, type="text")
    updated = max(map(entry_updated, papers), default=EMPTY_FEED_UPDATED)
    _text(feed, "updated", _rfc3339(updated))
    SubElement(feed, _tag("link"), rel="self", type=ATOM_MEDIA_TYPE, href=info.self_url)
    SubElement(feed, _tag("link"), rel="alternate", type="text/html", href=info.base_url + info.html_path)
    author = SubElement(feed, _tag("author"))
    _text(author, "name", "papercast")
    _text(feed, "generator", "papercast")
    for paper in papers:
        _entry(feed, paper, info)
    document: bytes = tostring(feed, encoding="utf-8", xml_declaration=True)
    return document


def _entry(feed: Element, paper: Paper, info: FeedInfo) -> None:
    from papercast.web.templating import arxiv_links, paper_url

    entry = SubElement(feed, _tag("entry"))
    arxiv = arxiv_links(paper)
    page = info.base_url + paper_url(paper.paper_id)
    _text(entry, "id", arxiv["abs"] if arxiv else local_entry_id(paper.paper_id, info.base_url))
    _text(entry, "title", paper.title, type="text")
    _text(entry, "updated", _rfc3339(entry_updated(paper)))
    published = _published(paper)
    if published is not None:
        _text(entry, "published", _rfc3339(published))
    SubElement(entry, _tag("link"), rel="alternate", type="text/html", href=page)
    if arxiv:
        SubElement(entry, _tag("link"), rel="related", type="text/html", href=arxiv["abs"])
    for author in paper.authors[:50]:
        _text(SubElement(entry, _tag("author")), "name", author.name)
    for category in paper.categories:
        SubElement(entry, _tag("category"), term=category)
    if paper.abstract:
        _text(entry, "summary", paper.abstract, type="text")


def _tag(name: str) -> str:
    # Plain names under the root's default namespace (xmlns on <feed>) keep the output prefix-free.
    return name


def _text(parent: Element, name: str, value: str, **attributes: str) -> Element:
    element = SubElement(parent, _tag(name), attributes)
    element.text = _NOT_XML.sub("", value)
    return element


def local_entry_id(paper_id: str, base_url: str) -> str:
    """The entry id of a paper without an arXiv id: a tag: URI (RFC 4151) under the host of the
    public address, so it does not move with the scheme, port or path the site is served at."""
    host = urlsplit(base_url).hostname or ""
    if not host or ":" in host:  # an IPv6 literal is no tag authority (DNS names and IPv4 are)
        host = "localhost"
    return f"tag:{host},{TAG_DATE}:papers/{quote(paper_id, safe='/')}"


def entry_updated(paper: Paper) -> datetime:
    """When the paper last changed, from stored data only: its newest dated version, else the
    day it was announced, else when its row was last written (epoch for an unsaved paper)."""
    dated = [v.submitted_at for v in paper.versions if v.submitted_at is not None]
    if dated:
        return max(dated)
    if paper.announced_on:
        return _midnight(paper.announced_on)
    return paper.updated_at or EMPTY_FEED_UPDATED


def _published(paper: Paper) -> datetime | None:
    first = next((v.submitted_at for v in paper.versions if v.number == 1 and v.submitted_at), None)
    return first or (_midnight(paper.announced_on) if paper.announced_on else None)


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0, 0), tzinfo=UTC)


def _rfc3339(moment: datetime) -> str:
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
