"""The JSON API routes: search, papers (one, similar, recent), authors, categories."""

from __future__ import annotations

import json
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from starlette.requests import Request
from starlette.responses import Response

from papercast.domain.errors import InvalidInput, NotFound
from papercast.domain.papers import Paper
from papercast.domain.query import MAX_QUERY_LENGTH
from papercast.services.listings import CATEGORY_PATTERN, MAX_LIMIT, MAX_OFFSET
from papercast.web.api import schemas
from papercast.web.caching import cached
from papercast.web.context import Web, WebContext
from papercast.web.pagination import PageLinks, offset_links
from papercast.web.presenters import paper_list, paper_resource, search_results, similar_papers

router = APIRouter(tags=["papers"])

Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="how many results to skip")]
# A string, not `date`: pydantic would also take `since=0` (a Unix time) as a date.
Since = Annotated[str | None, Query(description="only papers announced on or after this day (YYYY-MM-DD)",
                                    pattern=r"^\d{4}-\d{2}-\d{2}$", json_schema_extra={"format": "date"})]
Category = Annotated[str, Path(description="an arXiv category such as cs.LG or hep-th",
                               pattern=CATEGORY_PATTERN)]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="how many results to return")]
PaperId = Annotated[str, Path(description="any spelling of an arXiv id (2401.01234, arXiv:2401.01234v2, "
                                          "hep-th/9901001) or a local id", max_length=200)]


def json_response(request: Request, body: dict[str, Any], web: WebContext,
                  links: PageLinks | None = None, *, store: bool = True) -> Response:
    """JSON with ETag and Cache-Control (`no-store` without `store`), and a `Link` header when
    the body has neighbours."""
    content = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    response = Response(content, media_type="application/json")
    header = links.header() if links else None
    if header:
        response.headers["Link"] = header
    return cached(request, response, web.config.cache_max_age, store=store)


@router.get("/search", summary="Search papers", response_model=None,
            responses=schemas.responses(schemas.SearchResults, 400))
def search(request: Request, *,
           q: str = Query(min_length=1, max_length=MAX_QUERY_LENGTH,
                          description='words, "phrases", -exclusions, author:, cat:, year:, id:'),
           sort: Literal["relevance", "date"] = Query("relevance", description="ranking or newest first"),
           offset: Offset = 0, limit: Limit = 20, web: Web) -> Response:
    results = web.search.search(q, sort, offset, limit)
    links = offset_links(request, offset, limit, results.total)
    return json_response(request, search_results(results, links), web, links, store=not results.degraded)


@router.get("/papers", summary="Recent papers, newest first", response_model=None,
            responses=schemas.responses(schemas.PaperList, 400))
def recent_papers(request: Request, *,
                  since: Since = None,
                  offset: Offset = 0, limit: Limit = 20, web: Web) -> Response:
    page = web.listings.recent(_day(since), offset, limit)
    links = offset_links(request, offset, limit, page.total)
    return json_response(request, paper_list(page, links), web, links)


@router.get("/papers/{paper_id:path}/similar", summary="Papers similar to one paper", response_model=None,
            responses=schemas.responses(schemas.SimilarPapers, 400, 404))
def similar(request: Request, *, paper_id: PaperId,
            limit: int = Query(10, ge=1, le=50, description="how many papers to return"),
            web: Web) -> Response:
    paper = _paper(web, paper_id)
    found = web.search.similar(paper, limit)
    return json_response(request, similar_papers(paper.paper_id, found), web)


@router.get("/papers/{paper_id:path}", summary="One paper", response_model=None,
            responses=schemas.responses(schemas.Paper, 400, 404))
def paper(request: Request, *, paper_id: PaperId, web: Web) -> Response:
    return json_response(request, paper_resource(_paper(web, paper_id)), web)


@router.get("/authors/{name:path}", summary="An author's papers, newest first", response_model=None,
            responses=schemas.responses(schemas.AuthorPapers, 400, 404))
def author(request: Request, *,
           name: Annotated[str, Path(description="the author's name as written on a paper")],
           offset: Offset = 0, limit: Limit = 20, web: Web) -> Response:
    try:
        found = web.listings.by_author(name, offset, limit)
    except InvalidInput as error:
        raise NotFound(f"no author {name[:80]!r}: {error}") from error
    links = offset_links(request, offset, limit, found.page.total)
    body = {"author": {"name": found.name, "key": found.key}, **paper_list(found.page, links)}
    return json_response(request, body, web, links)


@router.get("/categories/{category}", summary="A category's papers, newest first", response_model=None,
            responses=schemas.responses(schemas.CategoryPapers, 400))
def category(request: Request, *, category: Category,
             offset: Offset = 0, limit: Limit = 20, web: Web) -> Response:
    page = web.listings.by_category(category, offset, limit)
    links = offset_links(request, offset, limit, page.total)
    return json_response(request, {"category": category, **paper_list(page, links)}, web, links)


def _paper(web: WebContext, paper_id: str) -> Paper:
    """The paper, or `NotFound`: a string that cannot be an id names no paper."""
    try:
        return web.catalog.paper(paper_id)
    except InvalidInput as error:
        raise NotFound(str(error)) from error


def _day(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError as error:
        raise InvalidInput(f"since: {text!r} is not a date (YYYY-MM-DD)", field="since") from error
