"""The "For you" page: the reader's recommendations with their reasons, "more like my library",
the seed form (arXiv ids or BibTeX), and the "not interested" button's form post (JavaScript
turns it into a call to the API and hides the paper in place)."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from papercast.services.votes import MAX_EXPORT
from papercast.web.context import Web
from papercast.web.csrf import csrf_token
from papercast.web.forms import FormFields
from papercast.web.readers import session_reader
from papercast.web.ui.voting import PRIVATE, listing_context, safe_return

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 20


@router.get("/for-you")
def for_you_page(request: Request, web: Web) -> Response:
    reader = session_reader(request)
    if reader is None:
        return _see_other("/sign-in")
    service = web.recommendations()
    from_library = request.query_params.get("from") == "library"
    if from_library:
        saved = [entry.paper.paper_id for entry in web.votes().library(reader.user_id, 0, MAX_EXPORT).entries]
        items, cold = tuple(service.more_like(saved, PAGE_SIZE)), False
    else:
        result = service.recommend(reader.user_id, PAGE_SIZE)
        items, cold = result.items, result.cold
    return web.templates.TemplateResponse(request, "for_you.html", {
        "active": "for-you", "items": items, "cold": cold, "from_library": from_library,
        "seeded": request.query_params.get("seeded"), "problems": request.query_params.get("problems"),
        **listing_context(request, web, [item.paper for item in items]),
    }, headers=PRIVATE)


@router.post("/papers/{paper_id:path}/not-interested")
def not_interested_form(request: Request, paper_id: str, fields: FormFields, web: Web) -> Response:
    """The button without JavaScript: hide the paper (on=1) or take it back (on=0), then back."""
    reader = session_reader(request)
    if reader is None:
        return _see_other("/sign-in")
    web.recommendations().not_interested(reader.user_id, paper_id, fields.get("on", "1") != "0")
    return _see_other(safe_return(fields.get("next", "")))


@router.get("/not-interested")
def not_interested_link_page(request: Request, web: Web) -> Response:
    """Where a digest's "not interested" link lands: a button (mail scanners fetch links, so a GET
    changes nothing); the button posts the token to the API, which needs no sign-in."""
    token, done = request.query_params.get("token", ""), request.query_params.get("done")
    session = session_reader(request)
    return web.templates.TemplateResponse(request, "not_interested.html", {
        "token": token, "done": done, "csrf": csrf_token(request) if session else "",
    }, headers=PRIVATE)


@router.post("/for-you/seed")
def seed_form(request: Request, fields: FormFields, web: Web) -> Response:
    reader = session_reader(request)
    if reader is None:
        return _see_other("/sign-in")
    report = web.recommendations().seed(reader.user_id, fields.get("text", ""))
    return _see_other(f"/for-you?seeded={len(report.used)}&problems={len(report.problems)}")


def _see_other(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303, headers={"Cache-Control": "no-store"})
