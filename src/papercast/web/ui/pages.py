"""The home page (trending papers, with tabs for today, this week, this month and the newest
papers) and the about page."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from starlette.requests import Request
from starlette.responses import Response

from papercast.domain.fusion import LEXICAL_ENCODER_WEIGHTS, FusionWeights
from papercast.domain.trending import EPOCH, Window
from papercast.web.context import Web
from papercast.web.pagination import page_links
from papercast.web.ui.rendering import PageNumber, page_offset, render
from papercast.web.ui.voting import listing_context

router = APIRouter(include_in_schema=False)

NEWEST = "newest"
# The home page's tabs, in order: (value of ?tab=, label). Trending is the default, as on
# Hugging Face Papers; the newest papers are one tab away.
TABS = ((Window.TRENDING.value, "Trending"), (Window.TODAY.value, "Today"), (Window.WEEK.value, "This week"),
        (Window.MONTH.value, "This month"), (NEWEST, "Newest"))
Tab = Literal["trending", "today", "week", "month", "newest"]


@router.get("/")
def home(request: Request, web: Web, page: PageNumber = 1,
         tab: Annotated[Tab, Query(description="which list")] = "trending") -> Response:
    size, offset = web.config.page_size, page_offset(page, web.config.page_size)
    if tab == NEWEST:
        listing = web.listings.recent(None, offset, size)
        papers, total, has_next, since = listing.papers, listing.total, listing.has_next, None
    else:
        trending = web.trending.listing(tab, offset, size)
        papers = tuple(entry.paper for entry in trending.entries)
        total, has_next, since = trending.total, trending.has_next, trending.since
    return render(request, "home.html", {
        "active": "home", "tab": tab, "tabs": TABS, "papers": papers, "total": total, "since": since,
        "offset": offset, "page_number": page, "links": page_links(request, page, has_next),
        **listing_context(request, web, papers),
    })


@router.get("/about")
def about(request: Request, web: Web) -> Response:
    # The numbers the page explains are the ones search and trending use.
    return render(request, "about.html", {"active": "about", "fusion": FusionWeights(),
                                          "lexical": LEXICAL_ENCODER_WEIGHTS,
                                          "trending": web.trending.parameters, "epoch": EPOCH,
                                          "windows": {w.value: w.days for w in Window if w.days}})
