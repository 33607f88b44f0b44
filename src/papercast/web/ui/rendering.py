"""Rendering a page: the template with its context, cached like every other read."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query
from starlette.requests import Request
from starlette.responses import Response

from papercast.web.caching import cached
from papercast.web.context import web_context

MAX_PAGE = 500
PageNumber = Annotated[int, Query(ge=1, le=MAX_PAGE, description="1-based page number")]


def render(request: Request, template: str, context: dict[str, Any], status: int = 200, *,
           store: bool = True) -> Response:
    web = web_context(request)
    response = web.templates.TemplateResponse(request, template, context, status_code=status)
    return cached(request, response, web.config.cache_max_age, store=store)


def page_offset(page: int, page_size: int) -> int:
    return (page - 1) * page_size
