"""The search results page: `/search?q=&sort=&page=`, the same search the API runs."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from starlette.requests import Request
from starlette.responses import Response

from papercast.domain.query import MAX_QUERY_LENGTH
from papercast.web.context import Web
from papercast.web.pagination import page_links
from papercast.web.ui.rendering import PageNumber, page_offset, render
from papercast.web.ui.voting import listing_context

router = APIRouter(include_in_schema=False)


@router.get("/search")
def search_page(request: Request, web: Web, q: Annotated[str, Query(max_length=MAX_QUERY_LENGTH)] = "",
                sort: Literal["relevance", "date"] = "relevance", page: PageNumber = 1) -> Response:
    query = q.strip()
    if not query:
        return render(request, "search.html", {"query": "", "sort": sort})
    size = web.config.page_size
    results = web.search.search(query, sort, page_offset(page, size), size)
    return render(request, "search.html", {
        "query": query, "sort": sort, "results": results, "page_number": page,
        "links": page_links(request, page, results.has_next),
        **listing_context(request, web, [hit.paper for hit in results.hits]),
    }, store=not results.degraded)
