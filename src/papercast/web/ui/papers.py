"""A paper's page, an author's page and a category's page."""

from __future__ import annotations

import logging

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from papercast.domain.errors import InvalidInput, NotFound, PapercastError
from papercast.domain.papers import Paper
from papercast.web.context import Web, WebContext
from papercast.web.pagination import page_links
from papercast.web.search import Similar
from papercast.web.templating import author_url, category_url, paper_url
from papercast.web.ui.rendering import PageNumber, page_offset, render
from papercast.web.ui.voting import listing_context

log = logging.getLogger("papercast.web.ui")
router = APIRouter(include_in_schema=False)
SIMILAR_COUNT = 6


@router.get("/papers/{paper_id:path}")
async def paper_page(request: Request, paper_id: str, web: Web) -> Response:
    # Runs on the event loop, not in a thread: the page is a few milliseconds of CPU-bound
    # Python around local reads (its similar papers are precomputed), and skipping the thread
    # hand-off and the GIL hand-offs that come with it doubled the paper pages a process serves
    # (bench/web.py at 100k papers: 428 -> 658-801 pages/s, p99 315 -> 129-154 ms).
    try:
        paper = web.catalog.paper(paper_id)
    except InvalidInput as error:
        raise NotFound(f"{error}: papercast knows arXiv ids like 2401.01234 or hep-th/9901001.") from error
    if paper.paper_id != paper_id:  # arXiv:…v2, abs URLs: one page per paper
        return RedirectResponse(paper_url(paper.paper_id), status_code=301)
    similar = _similar(web, paper)
    return render(request, "paper.html", {
        "paper": paper, "similar": similar,
        **listing_context(request, web, [paper, *(hit.paper for hit in similar.hits)])})


def _similar(web: WebContext, paper: Paper) -> Similar:
    """Similar papers, or none when the search backend cannot say (the page still shows)."""
    try:
        return web.search.similar(paper, SIMILAR_COUNT, snippets=False)
    except PapercastError as error:
        log.warning("web.similar_failed paper=%s error=%s", paper.paper_id, error)
        return Similar((), "unavailable")


@router.get("/authors/{name:path}")
def author_page(request: Request, name: str, web: Web, page: PageNumber = 1) -> Response:
    size = web.config.page_size
    try:
        author = web.listings.by_author(name, page_offset(page, size), size)
    except InvalidInput as error:
        raise NotFound(str(error)) from error
    return render(request, "listing.html", {
        "kind": "Author", "heading": author.name, "page": author.page, "page_number": page,
        "links": page_links(request, page, author.page.has_next),
        "api_url": "/api/v1" + author_url(name), "feed_url": None,
        **listing_context(request, web, author.page.papers),
    })


@router.get("/categories/{category}")
def category_page(request: Request, category: str, web: Web, page: PageNumber = 1) -> Response:
    size = web.config.page_size
    try:
        listing = web.listings.by_category(category, page_offset(page, size), size)
    except InvalidInput as error:
        raise NotFound(f"{error}: categories look like cs.LG or hep-th.") from error
    return render(request, "listing.html", {
        "kind": "Category", "heading": category, "page": listing, "page_number": page,
        "links": page_links(request, page, listing.has_next),
        "api_url": "/api/v1" + category_url(category), "feed_url": f"/feeds{category_url(category)}.atom",
        **listing_context(request, web, listing.papers),
    })
