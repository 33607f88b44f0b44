"""The JSON API of votes, saves, the reader's library and trending papers.

Upvoting and saving (`POST` to add, `DELETE` to take back; both idempotent) need a credential
that may write: a Bearer token with the write scope, or a session with its CSRF header
(`web/csrf.py` checks that before the route runs). Answers about the reader are never cached;
the trending list is cached like every other list, and moves on with every counted vote.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from starlette.requests import Request
from starlette.responses import Response

from papercast.domain.bibtex import bibtex_entries
from papercast.domain.papers import parse_paper_id
from papercast.domain.trending import Mark, Window
from papercast.web.api import schemas
from papercast.web.api.routes import Limit, Offset, PaperId, json_response
from papercast.web.context import Web, WebContext
from papercast.web.pagination import offset_links
from papercast.web.presenters import library_entries, mark_result, trending_results
from papercast.web.readers import CanWrite, SignedIn

router = APIRouter()

MARK_RESPONSES = {200: {"model": schemas.MarkResult, "description": "Done"},
                  **schemas.problem_responses(401, 403, 404)}
TrendingWindow = Annotated[Window, Query(description="trending: papers with points by their decayed score; "
                                                     "today, week, month: papers first announced in that "
                                                     "many UTC days (1, 7, 30), by points")]
NO_STORE = {"Cache-Control": "no-store"}


def _mark(request: Request, web: WebContext, user_id: int, paper_id: str, mark: Mark, on: bool) -> Response:
    client = request.client.host if request.client else "unknown"
    standing = web.votes().mark(user_id, paper_id, mark, on, client)
    # The answer names the paper as the catalog does, whichever form of its id was asked for.
    canonical = parse_paper_id(paper_id).paper_id
    return json_response(request, mark_result(canonical, standing), web, store=False)


def _mark_routes(path: str, mark: Mark, adds: str, removes: str) -> None:
    """POST `path` to add the reader's mark to a paper, DELETE to take it back (both idempotent)."""

    def add(request: Request, paper_id: PaperId, reader: CanWrite, web: Web) -> Response:
        return _mark(request, web, reader.user_id, paper_id, mark, True)

    def remove(request: Request, paper_id: PaperId, reader: CanWrite, web: Web) -> Response:
        return _mark(request, web, reader.user_id, paper_id, mark, False)

    for endpoint, method, summary in ((add, "POST", adds), (remove, "DELETE", removes)):
        router.add_api_route(path, endpoint, methods=[method], name=f"{method.lower()}_{mark.value}",
                             tags=["votes"], summary=summary, response_model=None,
                             responses=MARK_RESPONSES)


_mark_routes("/papers/{paper_id:path}/vote", Mark.UPVOTE, "Upvote a paper (needs the write scope)",
             "Take back your upvote")
_mark_routes("/papers/{paper_id:path}/save", Mark.SAVE,
             "Save a paper to your library (needs the write scope)", "Remove a paper from your library")


@router.get("/me/library", tags=["votes"], summary="Your saved papers, newest save first",
            response_model=None,
            responses={**schemas.responses(schemas.Library, 401),
                       200: {"model": schemas.Library,
                             "description": "The library as JSON, or as BibTeX with format=bibtex",
                             "content": {"application/x-bibtex": {"schema": {"type": "string"}}}}})
def my_library(request: Request, reader: SignedIn, web: Web, offset: Offset = 0, limit: Limit = 20,
               format: Annotated[Literal["json", "bibtex"], Query(
                   description="json (one page), or bibtex (the whole library, as a .bib file)")] = "json",
               ) -> Response:
    votes = web.votes()
    if format == "bibtex":
        library = votes.export(reader.user_id)
        return Response(bibtex_entries(entry.paper for entry in library.entries),
                        media_type="application/x-bibtex; charset=utf-8", headers=NO_STORE)
    library = votes.library(reader.user_id, offset, limit)
    links = offset_links(request, offset, limit, library.total)
    body = {"papers": library_entries(library), "total": library.total, "offset": offset, "limit": limit,
            "links": links.as_json()}
    return json_response(request, body, web, links, store=False)


@router.get("/trending", tags=["papers"], summary="Trending papers", response_model=None,
            responses=schemas.responses(schemas.TrendingList, 400))
def trending(request: Request, web: Web, offset: Offset = 0, limit: Limit = 20,
             window: TrendingWindow = Window.TRENDING) -> Response:
    page = web.trending.listing(window, offset, limit)
    links = offset_links(request, offset, limit, page.total)
    return json_response(request, trending_results(page, links), web, links)
