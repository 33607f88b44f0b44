"""The home page (recent papers; trending tabs to come) and the about page."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from papercast.domain.fusion import LEXICAL_ENCODER_WEIGHTS, FusionWeights
from papercast.web.context import Web
from papercast.web.pagination import page_links
from papercast.web.ui.rendering import PageNumber, page_offset, render

router = APIRouter(include_in_schema=False)


@router.get("/")
def home(request: Request, web: Web, page: PageNumber = 1) -> Response:
    size = web.config.page_size
    listing = web.listings.recent(None, page_offset(page, size), size)
    return render(request, "home.html", {
        "active": "home", "page": listing, "page_number": page,
        "links": page_links(request, page, listing.has_next),
    })


@router.get("/about")
def about(request: Request) -> Response:
    # The numbers the page explains are the ones search uses (MiniLM's; the word-based fallbacks').
    return render(request, "about.html", {"active": "about", "fusion": FusionWeights(),
                                          "lexical": LEXICAL_ENCODER_WEIGHTS})
