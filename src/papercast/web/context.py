"""What the web app is given (`WebServices`, built by the composition root) and what every route
needs, built once per app from it (`WebContext`): services, templates, metrics and web settings."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends
from starlette.requests import Request
from starlette.templating import Jinja2Templates

from papercast.domain.tokens import TokenSigner
from papercast.ports import HealthCheck, SearchBackend
from papercast.services.accounts import AccountService
from papercast.services.catalog import CatalogService
from papercast.services.listings import MAX_LIMIT, ListingService
from papercast.services.operations import OperationsService
from papercast.services.recommendations import RecommendationService
from papercast.services.subscriptions import SubscriptionService
from papercast.services.trending import TrendingService
from papercast.services.votes import VoteService
from papercast.settings import DEFAULT_BASE_URL, Settings
from papercast.web.metrics import HttpMetrics
from papercast.web.search import WebSearch

# Something to run beside the web server for the app's lifetime (the worker): entered at
# startup, exited at shutdown. `papercast serve --no-worker` passes none.
BackgroundWorker = Callable[[], AbstractContextManager[Any]]


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
class WebServices:
    """Everything the web app is given, wired by `bootstrap` (`Papercast.web_services`): the read
    services, what answers searches (None: a plain catalog match), the health check and the
    operations read for `/metrics`, the web settings, the clock's monotonic time, and the worker
    to run beside the server."""

    catalog: CatalogService
    listings: ListingService
    health: HealthCheck
    operations: OperationsService
    config: WebConfig
    monotonic: Callable[[], float]
    accounts: Callable[[], AccountService]  # built on first use: it needs the signing key
    signer: Callable[[], TokenSigner]
    subscriptions: Callable[[], SubscriptionService]  # built on first use, like accounts
    trending: TrendingService
    votes: Callable[[], VoteService]  # built on first use
    recommendations: Callable[[], RecommendationService]  # built on first use
    search_backend: SearchBackend | None = None
    worker: BackgroundWorker | None = None


@dataclass(frozen=True)
class WebContext:
    catalog: CatalogService
    listings: ListingService
    search: WebSearch
    templates: Jinja2Templates
    metrics: HttpMetrics
    config: WebConfig
    health: HealthCheck
    operations: OperationsService
    accounts: Callable[[], AccountService]
    signer: Callable[[], TokenSigner]
    subscriptions: Callable[[], SubscriptionService]
    trending: TrendingService
    votes: Callable[[], VoteService]
    recommendations: Callable[[], RecommendationService]


def web_context(request: Request) -> WebContext:
    """The app's context, for routes (`Depends(web_context)`)."""
    context: WebContext = request.app.state.web
    return context


Web = Annotated[WebContext, Depends(web_context)]
