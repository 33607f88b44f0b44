"""Upvotes, saves and the library on the pages: the points and buttons beside every listed
paper, the form posts that work without JavaScript, and "My library" with its exports.

A page learns who is asking only through `web/readers.py` (`session_reader`, `signed_in_reader`),
and its forms are checked for CSRF by `web/csrf.py` before they get here. Pages of a signed-in
reader are private (the reader middleware says so), so "you upvoted this" never reaches a cache.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from papercast.domain.bibtex import bibtex_entries
from papercast.domain.papers import Paper
from papercast.domain.trending import Mark
from papercast.web.context import Web, WebContext
from papercast.web.csrf import csrf_token
from papercast.web.forms import FormFields
from papercast.web.pagination import page_links
from papercast.web.presenters import library_entries
from papercast.web.readers import SignedIn, session_reader
from papercast.web.ui.rendering import PageNumber, page_offset

router = APIRouter(include_in_schema=False)
PRIVATE = {"Cache-Control": "private, no-store"}


@dataclass(frozen=True)
class Voting:
    """What a page needs to draw upvote and save buttons for the reader asking."""

    signed_in: bool
    csrf: str = ""
    back: str = "/"  # where a form sent without JavaScript returns to


def listing_context(request: Request, web: WebContext, papers: Sequence[Paper]) -> dict[str, Any]:
    """`standings` (each paper's points, and whether the reader upvoted or saved it) and `voting`,
    for templates that list papers."""
    paper_ids = [paper.paper_id for paper in papers]
    standings = web.trending.standings(paper_ids)
    reader = session_reader(request)
    if reader is None:
        return {"standings": standings, "voting": Voting(signed_in=False)}
    marks = web.votes().marks(reader.user_id, paper_ids)
    marked = {paper_id: replace(standing, upvoted=Mark.UPVOTE in marks.get(paper_id, ()),
                                saved=Mark.SAVE in marks.get(paper_id, ()))
              for paper_id, standing in standings.items()}
    return {"standings": marked, "voting": Voting(True, csrf_token(request), _here(request))}


def _here(request: Request) -> str:
    query = request.url.query
    return f"{request.url.path}?{query}" if query else request.url.path


@router.post("/papers/{paper_id:path}/vote")
def vote_form(request: Request, paper_id: str, fields: FormFields, web: Web) -> Response:
    return _mark_form(request, web, paper_id, Mark.UPVOTE, fields)


@router.post("/papers/{paper_id:path}/save")
def save_form(request: Request, paper_id: str, fields: FormFields, web: Web) -> Response:
    return _mark_form(request, web, paper_id, Mark.SAVE, fields)


def _mark_form(request: Request, web: WebContext, paper_id: str, mark: Mark,
               fields: dict[str, str]) -> Response:
    """A button pressed without JavaScript: mark (on=1) or unmark (on=0), then back to the page."""
    reader = session_reader(request)
    if reader is None:
        return _see_other("/sign-in")
    client = request.client.host if request.client else "unknown"
    web.votes().mark(reader.user_id, paper_id, mark, fields.get("on", "1") != "0", client)
    return _see_other(safe_return(fields.get("next", "")))


def safe_return(path: str) -> str:
    """A path on this site to go back to; anything else (another site, `//host`) goes home."""
    if path.startswith("/") and not path.startswith("//") and "\\" not in path and path.isprintable():
        return path
    return "/"


def _see_other(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303, headers={"Cache-Control": "no-store"})


@router.get("/library")
def library_page(request: Request, web: Web, page: PageNumber = 1) -> Response:
    reader = session_reader(request)
    if reader is None:
        return _see_other("/sign-in")
    size = web.config.page_size
    library = web.votes().library(reader.user_id, page_offset(page, size), size)
    papers = [entry.paper for entry in library.entries]
    return web.templates.TemplateResponse(request, "library.html", {
        "active": "library", "library": library, "page_number": page,
        "links": page_links(request, page, library.has_next), **listing_context(request, web, papers),
    }, headers=PRIVATE)


@router.get("/library.bib")
def library_bibtex(reader: SignedIn, web: Web) -> Response:
    """The whole library as BibTeX, newest save first."""
    library = web.votes().export(reader.user_id)
    body = bibtex_entries(entry.paper for entry in library.entries)
    return Response(body, media_type="application/x-bibtex; charset=utf-8", headers=_download("bib"))


@router.get("/library.json")
def library_json(reader: SignedIn, web: Web) -> Response:
    library = web.votes().export(reader.user_id)
    body = json.dumps({"papers": library_entries(library), "total": library.total}, ensure_ascii=False,
                      indent=1)
    return Response(body, media_type="application/json", headers=_download("json"))


def _download(extension: str) -> dict[str, str]:
    return {**PRIVATE, "Content-Disposition": f'attachment; filename="papercast-library.{extension}"'}

