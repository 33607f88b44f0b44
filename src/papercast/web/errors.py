"""Errors at the web edge: domain exceptions and HTTP errors become an HTML page or a problem
document (by path), and anything unexpected becomes a logged, friendly 500. Never a stack trace.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Iterable, Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from papercast.domain.errors import (
    Conflict,
    InvalidInput,
    NotAllowed,
    NotFound,
    NotSignedIn,
    SchemaOutOfDate,
    TooManyRequests,
)
from papercast.domain.tokens import InvalidToken
from papercast.web.problems import problem_bytes, problem_response, wants_problem

log = logging.getLogger("papercast.web")

_TITLES = {400: "Bad request", 401: "Please sign in", 403: "Not allowed", 404: "Page not found",
           405: "Method not allowed", 409: "Conflict", 422: "Bad request", 429: "Too many requests",
           500: "Something went wrong", 503: "Temporarily unavailable"}


def error_page(request: Request, status: int, detail: str, headers: dict[str, str] | None = None,
               **context: Any) -> Response:
    """The HTML error page (no caching, status as given)."""
    templates = request.app.state.web.templates
    response = templates.TemplateResponse(
        request, "error.html",
        {"status": status, "title": _TITLES.get(status, "Error"), "detail": detail, **context},
        status_code=status, headers={"Cache-Control": "no-store", **(headers or {})},
    )
    return response  # type: ignore[no-any-return]


def error_response(request: Request, status: int, detail: str, headers: dict[str, str] | None = None,
                   **extensions: Any) -> Response:
    if wants_problem(request.url.path):
        return problem_response(status, detail, request.url.path, headers, **extensions)
    return error_page(request, status, detail, headers)


async def _http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, StarletteHTTPException)
    status = error.status_code
    detail = error.detail if isinstance(error.detail, str) else _TITLES.get(status, "Error")
    if status == 404 and detail == "Not Found":
        detail = f"There is nothing at {request.url.path}."
    headers = dict(error.headers or {})
    if status == 405:
        headers["Allow"] = ", ".join(allowed_methods(request))
    return error_response(request, status, detail, headers)


def allowed_methods(request: Request) -> list[str]:
    """The methods of the resource a 405 is about. Starlette names those of the first route whose
    path matched, but `/papers/{id:path}` (GET) also matches `/papers/{id}/vote` (POST, DELETE):
    of the routes that match, those with the most specific path (most literal characters) count."""
    path = request.scope.get("path", "")
    best, methods = -1, set()
    for route in _leaf_routes(request.app.router.routes):
        route_methods, pattern = getattr(route, "methods", None), getattr(route, "path_regex", None)
        if not route_methods or pattern is None or not pattern.match(path):
            continue
        literal = len(_PATH_PARAMETER.sub("", route.path))
        if literal > best:
            best, methods = literal, set(route_methods)
        elif literal == best:
            methods |= route_methods
    return sorted(methods)


def _leaf_routes(routes: Iterable[Any]) -> Iterator[Any]:
    """Every route, with included routers opened (FastAPI keeps them as nested candidates)."""
    for route in routes:
        candidates = getattr(route, "effective_candidates", None)
        yield from _leaf_routes(candidates()) if callable(candidates) else (route,)


_PATH_PARAMETER = re.compile(r"{[^}]*}")


async def _validation_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, RequestValidationError)
    problems = [_field_error(item) for item in error.errors()]
    detail = "; ".join(f"{p['field']}: {p['message']}" for p in problems) or "invalid request"
    if wants_problem(request.url.path):
        return problem_response(422, detail, request.url.path, errors=problems)
    return error_page(request, 400, f"The address has a bad parameter ({detail}).")


def _field_error(item: Any) -> dict[str, str]:
    location = [str(part) for part in item.get("loc", ()) if part not in ("query", "path", "body")]
    return {"field": ".".join(location) or "request", "message": str(item.get("msg", "invalid"))}


async def _not_found(request: Request, error: Exception) -> Response:
    return error_response(request, 404, str(error))


async def _invalid_input(request: Request, error: Exception) -> Response:
    assert isinstance(error, InvalidInput)
    return error_response(request, 400, str(error))


async def _not_signed_in(request: Request, error: Exception) -> Response:
    # RFC 6750: a 401 names the scheme that would have worked.
    return error_response(request, 401, str(error), {"WWW-Authenticate": 'Bearer realm="papercast"'})


async def _not_allowed(request: Request, error: Exception) -> Response:
    return error_response(request, 403, str(error))


async def _conflict(request: Request, error: Exception) -> Response:
    return error_response(request, 409, str(error))


async def _invalid_token(request: Request, error: Exception) -> Response:
    return error_response(request, 400, str(error))


async def _too_many_requests(request: Request, error: Exception) -> Response:
    assert isinstance(error, TooManyRequests)
    return error_response(request, 429, str(error), {"Retry-After": str(error.retry_after)})


async def _schema_out_of_date(request: Request, error: Exception) -> Response:
    log.error("web.schema_out_of_date path=%s detail=%s", request.url.path, error)
    return error_response(request, 503, "The service is being upgraded; please try again shortly.")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(NotFound, _not_found)
    app.add_exception_handler(InvalidInput, _invalid_input)
    app.add_exception_handler(SchemaOutOfDate, _schema_out_of_date)
    app.add_exception_handler(NotSignedIn, _not_signed_in)
    app.add_exception_handler(NotAllowed, _not_allowed)
    app.add_exception_handler(InvalidToken, _invalid_token)
    app.add_exception_handler(Conflict, _conflict)
    app.add_exception_handler(TooManyRequests, _too_many_requests)


class ErrorBoundaryMiddleware:
    """Turns an exception no handler took into a logged 500 page or problem, with a reference."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = [False]

        async def tracking_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                started[0] = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            reference = secrets.token_hex(6)
            log.exception("web.error reference=%s method=%s path=%s", reference, scope.get("method"),
                          scope.get("path"))
            if started[0]:
                raise  # the response is half sent; only closing the connection is left
            response = self._render(Request(scope), reference)
            await response(scope, receive, send)

    @staticmethod
    def _render(request: Request, reference: str) -> Response:
        if wants_problem(request.url.path):
            body = problem_bytes(500, f"Unexpected error (reference {reference}).", request.url.path)
            return Response(body, 500, media_type="application/problem+json",
                            headers={"Cache-Control": "no-store"})
        try:
            return error_page(request, 500, "The page could not be shown.", reference=reference)
        except Exception:  # noqa: BLE001 - the page itself failed; plain text is all that is left
            log.exception("web.error_page_failed reference=%s", reference)
            return Response(f"Internal error (reference {reference}).", 500, media_type="text/plain")
