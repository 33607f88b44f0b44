"""Feed routes: `/feeds/recent.atom`, `/feeds/trending.atom?window=`, `/feeds/search.atom?q=`,
`/feeds/categories/{cat}.atom`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Query
from starlette.requests import Request
from starlette.responses import Response

from papercast.domain.papers import Paper
from papercast.domain.query import MAX_QUERY_LENGTH
from papercast.domain.trending import Window
from papercast.services.listings import CATEGORY_PATTERN
from papercast.web.api.schemas import PROBLEM_CONTENT
from papercast.web.api.votes import TrendingWindow
from papercast.web.caching import cached
from papercast.web.context import Web, WebContext
from papercast.web.feeds.atom import ATOM_MEDIA_TYPE, FeedInfo, build_feed
from papercast.web.templating import category_url

router = APIRouter(prefix="/feeds", tags=["feeds"])

RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "An Atom 1.0 feed", "content": {ATOM_MEDIA_TYPE: {"schema": {"type": "string"}}}},
    **{status: {"description": text, "content": PROBLEM_CONTENT}
       for status, text in ((400, "Invalid input"), (422, "Invalid parameters"), (429, "Too many requests"),
                            (500, "Unexpected error"))},
}


def atom_response(request: Request, web: WebContext, title: str, path: str, html_path: str,
                  papers: Sequence[Paper], *, store: bool = True) -> Response:
    """The feed at `path` (its canonical address: extra query parameters are not part of it),
    with every link and id under the configured base URL, whatever Host the request named."""
    info = FeedInfo(title=title, path=path, html_path=html_path, base_url=web.config.base_url)
    response = Response(build_feed(info, papers), media_type=ATOM_MEDIA_TYPE)
    return cached(request, response, max(web.config.cache_max_age, 300), store=store)


@router.get("/recent.atom", summary="Feed of recent papers", response_class=Response, responses=RESPONSES)
def recent_feed(request: Request, web: Web) -> Response:
    page = web.listings.recent(None, 0, web.config.feed_size)
    return atom_response(request, web, "papercast: recent papers", "/feeds/recent.atom", "/", page.papers)


@router.get("/trending.atom", summary="Feed of trending papers", response_class=Response,
            responses=RESPONSES)
def trending_feed(request: Request, web: Web, window: TrendingWindow = Window.TRENDING) -> Response:
    page = web.trending.listing(window, 0, web.config.feed_size)
    if window is Window.TRENDING:
        path, html_path, title = "/feeds/trending.atom", "/", "papercast: trending papers"
    else:
        path, html_path = f"/feeds/trending.atom?window={window.value}", f"/?tab={window.value}"
        title = f"papercast: trending papers ({window.value})"
    return atom_response(request, web, title, path, html_path, [entry.paper for entry in page.entries])


@router.get("/search.atom", summary="Feed of a search, newest first", response_class=Response,
            responses=RESPONSES)
def search_feed(request: Request, web: Web,
                q: Annotated[str, Query(min_length=1, max_length=MAX_QUERY_LENGTH)]) -> Response:
    results = web.search.search(q, "date", 0, web.config.feed_size)
    path = "/feeds/search.atom?" + urlencode({"q": q})
    html_path = "/search?" + urlencode({"q": q, "sort": "date"})
    papers = [hit.paper for hit in results.hits]
    return atom_response(request, web, f"papercast: search \u201c{q}\u201d", path, html_path, papers,
                         store=not results.degraded)


@router.get("/categories/{category}.atom", summary="Feed of a category", response_class=Response,
            responses=RESPONSES)
def category_feed(request: Request, web: Web,
                  category: Annotated[str, Path(description="an arXiv category such as cs.LG",
                                                pattern=CATEGORY_PATTERN)]) -> Response:
    page = web.listings.by_category(category, 0, web.config.feed_size)
    return atom_response(request, web, f"papercast: {category}", f"/feeds{category_url(category)}.atom",
                         category_url(category), page.papers)
