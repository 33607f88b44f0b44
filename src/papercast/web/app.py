"""The web application: `create_app(services)` wires pages, the JSON API, feeds, health and
metrics over the `WebServices` the composition root built (`Papercast.web_services`), behind the
middleware every response passes.

Middleware, outermost first: metrics → security headers → CORS (API and feeds) → error
boundary (a logged 500, never a trace) → HEAD as GET → rate limit → reader (session cookie or
Bearer token) → CSRF → response cache → routes.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio.to_thread
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from papercast import __version__
from papercast.web.api import accounts as api_accounts
from papercast.web.api import docs as api_docs
from papercast.web.api import recommendations as api_recommendations
from papercast.web.api import routes as api_routes
from papercast.web.api import schemas
from papercast.web.api import subscriptions as api_subscriptions
from papercast.web.api import votes as api_votes
from papercast.web.context import BackgroundWorker, WebConfig, WebContext, WebServices
from papercast.web.cors import ReadOnlyCorsMiddleware
from papercast.web.csrf import CsrfMiddleware
from papercast.web.errors import ErrorBoundaryMiddleware, install_error_handlers
from papercast.web.feeds import routes as feed_routes
from papercast.web.head import HeadAsGetMiddleware
from papercast.web.headers import SecurityHeadersMiddleware
from papercast.web.health import router as health_router
from papercast.web.metrics import HttpMetrics, MetricsMiddleware
from papercast.web.microcache import ResponseCache, ResponseCacheMiddleware
from papercast.web.problems import problem_bytes, wants_problem
from papercast.web.ratelimit import RateLimitMiddleware, TokenBuckets
from papercast.web.readers import ReaderMiddleware
from papercast.web.search import CatalogSearch, WebSearch
from papercast.web.templating import STATIC_DIR, build_templates
from papercast.web.ui import accounts, for_you, pages, papers, search, subscriptions, voting

log = logging.getLogger("papercast.web")

REQUEST_THREADS = 2  # threads per process for synchronous routes
API_DESCRIPTION = (
    "JSON over papercast's catalog. Errors are RFC 9457 problem documents; lists link to "
    "their neighbours in the body and in a `Link` header; responses carry an ETag. Routes about "
    "the reader (`/me`) take a personal API token as `Authorization: Bearer pct_…`; writes need "
    "a token with the write scope."
)


def create_app(services: WebServices) -> FastAPI:
    """The ASGI app over `services`. Their search backend answers searches (`papercast serve`
    passes the search service); without one, a plain catalog match (`CatalogSearch`) does."""
    context = _context(services)
    app = FastAPI(title="papercast API", version=__version__, description=API_DESCRIPTION,
                  openapi_url="/api/v1/openapi.json", docs_url=None, redoc_url=None,
                  lifespan=_lifespan(services.worker))
    app.state.web = context
    app.include_router(api_routes.router, prefix="/api/v1")
    app.include_router(api_accounts.router, prefix="/api/v1")
    app.include_router(api_subscriptions.router, prefix="/api/v1")
    app.include_router(api_votes.router, prefix="/api/v1")
    app.include_router(api_recommendations.router, prefix="/api/v1")
    for router in (pages.router, search.router, voting.router, for_you.router, papers.router, accounts.router,
                   subscriptions.router, api_docs.router, feed_routes.router, health_router):
        app.include_router(router)
    app.mount("/static", CachedStaticFiles(directory=STATIC_DIR), name="static")
    install_error_handlers(app)
    app.openapi = _openapi(app)  # type: ignore[method-assign]
    monotonic = services.monotonic
    app.add_middleware(ResponseCacheMiddleware, cache=_response_cache(context, monotonic))
    app.add_middleware(CsrfMiddleware, signer=services.signer, base_url=context.config.base_url)
    app.add_middleware(ReaderMiddleware, accounts=services.accounts)
    app.add_middleware(RateLimitMiddleware, buckets=_buckets(context.config, monotonic),
                       reject=_rate_limited(context))
    app.add_middleware(HeadAsGetMiddleware)
    app.add_middleware(ErrorBoundaryMiddleware)
    app.add_middleware(ReadOnlyCorsMiddleware)
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(MetricsMiddleware, metrics=context.metrics)
    return app


def _context(services: WebServices) -> WebContext:
    listings = services.listings
    backend = services.search_backend or CatalogSearch(listings, monotonic=services.monotonic)
    log.info("web.search backend=%s", type(backend).__name__)
    return WebContext(catalog=services.catalog, listings=listings, search=WebSearch(backend, listings),
                      templates=build_templates(), metrics=HttpMetrics(), config=services.config,
                      health=services.health, operations=services.operations,
                      accounts=services.accounts, signer=services.signer,
                      subscriptions=services.subscriptions, trending=services.trending, votes=services.votes,
                      recommendations=services.recommendations)


def _buckets(config: WebConfig, monotonic: Callable[[], float]) -> TokenBuckets | None:
    if config.rate_limit_per_minute <= 0:
        return None
    return TokenBuckets(config.rate_limit_per_minute, config.rate_limit_burst, monotonic)


def _response_cache(context: WebContext, monotonic: Callable[[], float]) -> ResponseCache | None:
    config = context.config
    if config.response_cache_entries <= 0 or config.cache_max_age <= 0:
        return None
    def version() -> tuple[int, ...]:
        # Pages show points: every counted vote moves the version on, as every paper change does.
        return (context.listings.catalog_version(), context.trending.vote_version(),
                *context.search.index_version())

    return ResponseCache(config.response_cache_entries, config.cache_max_age, version=version, now=monotonic)


def _openapi(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """The OpenAPI document, once, with the problem schema every error response refers to."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            spec = get_openapi(title=app.title, version=app.version, description=app.description,
                               routes=app.routes)
            app.openapi_schema = schemas.add_problem_schemas(spec)
        return app.openapi_schema

    return openapi


def _lifespan(worker: BackgroundWorker | None) -> Callable[[FastAPI], Any]:
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # Routes are CPU-bound Python: a few threads per process finish requests in turn, where
        # anyio's default 40 would share the GIL between 40 half-done requests (slower tails).
        anyio.to_thread.current_default_thread_limiter().total_tokens = REQUEST_THREADS
        if worker is None:
            yield
            return
        with worker():
            yield

    return lifespan


def _rate_limited(context: WebContext) -> Callable[[Scope, int], tuple[list[tuple[bytes, bytes]], bytes]]:
    """The 429 answer: a problem document for the API and feeds, a page for people."""

    def reject(scope: Scope, retry_after: int) -> tuple[list[tuple[bytes, bytes]], bytes]:
        path = scope.get("path", "")
        detail = f"Too many requests; try again in {retry_after} s."
        if wants_problem(path):
            return [(b"content-type", b"application/problem+json"), (b"cache-control", b"no-store")], \
                problem_bytes(429, detail, path)
        page = context.templates.get_template("error.html").render(
            status=429, title="Too many requests", detail=detail, retry_after=retry_after)
        return [(b"content-type", b"text/html; charset=utf-8"), (b"cache-control", b"no-store")], \
            page.encode("utf-8")

    return reject


class CachedStaticFiles(StaticFiles):
    """Static files with a long cache lifetime: their URLs change with their content."""

    def file_response(self, *args: Any, **kwargs: Any) -> Any:
        response = super().file_response(*args, **kwargs)
        response.headers["Cache-Control"] = "public, max-age=604800"
        return response
