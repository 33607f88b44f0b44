"""Building Atom 1.0 documents (RFC 4287) with ElementTree, so every text is XML-escaped.

Titles and summaries are `type="text"`: LaTeX stays as written, and nothing from a paper can
become markup in a feed reader. Characters XML 1.0 forbids (control characters) are dropped.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from xml.etree.ElementTree import Element, SubElement, tostring

from papercast.domain.papers import Paper

ATOM_NS = "http://www.w3.org/2005/Atom"
ATOM_MEDIA_TYPE = "application/atom+xml"
_NOT_XML = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@dataclass(frozen=True)
class FeedInfo:
    """The feed itself: its id, title, where it lives and the HTML page it mirrors."""

    feed_id: str
    title: str
    self_url: str
    html_url: str
    base_url: str  # scheme://host, for entry links
    generated_at: datetime


def build_feed(info: FeedInfo, papers: Sequence[Paper]) -> bytes:
    feed = Element("feed", xmlns=ATOM_NS)
    _text(feed, "id", info.feed_id)
    _text(feed, "title", info.title, type="text")
    dates = [moment for moment in map(_entry_updated, papers) if moment is not None]
    updated = max(dates, default=info.generated_at)
    _text(feed, "updated", _rfc3339(updated))
    SubElement(feed, _tag("link"), rel="self", type=ATOM_MEDIA_TYPE, href=info.self_url)
    SubElement(feed, _tag("link"), rel="alternate", type="text/html", href=info.html_url)
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
    _text(entry, "id", arxiv["abs"] if arxiv else page)
    _text(entry, "title", paper.title, type="text")
    _text(entry, "updated", _rfc3339(_entry_updated(paper) or info.generated_at))
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


def _entry_updated(paper: Paper) -> datetime | None:
    """When the paper last changed as far as arXiv says: its newest dated version."""
    dated = [v.submitted_at for v in paper.versions if v.submitted_at is not None]
    if dated:
        return max(dated)
    return _midnight(paper.announced_on) if paper.announced_on else None


def _published(paper: Paper) -> datetime | None:
    first = next((v.submitted_at for v in paper.versions if v.number == 1 and v.submitted_at), None)
    return first or (_midnight(paper.announced_on) if paper.announced_on else None)


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0, 0), tzinfo=UTC)


def _rfc3339(moment: datetime) -> str:
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
