"""What every route needs, built once per app: services, templates, metrics and web settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends
from starlette.requests import Request
from starlette.templating import Jinja2Templates

from papercast.services.catalog import CatalogService
from papercast.services.listings import MAX_LIMIT, ListingService
from papercast.settings import DEFAULT_BASE_URL, Settings
from papercast.web.metrics import HttpMetrics
from papercast.web.search import WebSearch

if TYPE_CHECKING:
    from papercast.bootstrap import Papercast


@dataclass(frozen=True)
class WebConfig:
    """Web settings (`PAPERCAST_WEB_*`), clamped to what the services accept."""

    page_size: int = 20
    cache_max_age: int = 60
    rate_limit_per_minute: float = 300.0
    rate_limit_burst: int = 60
    feed_size: int = 50
    response_cache_entries: int = 1000
    base_url: str = DEFAULT_BASE_URL  # the public address absolute links are built from

    @classmethod
    def from_settings(cls, settings: Settings) -> WebConfig:
        return cls(
            page_size=min(max(1, settings.web_page_size), MAX_LIMIT),
            cache_max_age=max(0, settings.web_cache_max_age),
            rate_limit_per_minute=max(0.0, settings.web_rate_limit_per_minute),
            rate_limit_burst=max(1, settings.web_rate_limit_burst),
            feed_size=min(max(1, settings.web_feed_size), MAX_LIMIT),
            response_cache_entries=max(0, settings.web_response_cache_entries),
            base_url=settings.public_base_url,
        )


@dataclass(frozen=True)
class WebContext:
    papercast: Papercast
    catalog: CatalogService
    listings: ListingService
    search: WebSearch
    templates: Jinja2Templates
    metrics: HttpMetrics
    config: WebConfig


def web_context(request: Request) -> WebContext:
    """The app's context, for routes (`Depends(web_context)`)."""
    context: WebContext = request.app.state.web
    return context


Web = Annotated[WebContext, Depends(web_context)]
