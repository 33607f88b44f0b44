"""Who is asking: the session cookie or a Bearer token resolved to a reader (`request.state.reader`),
and the dependencies routes use to require one (`SignedIn`, `CanWrite`).

A request that carries credentials is answered `Cache-Control: private, no-store`, whatever the
route said: no cache (ours, a proxy's, the browser's) keeps a signed-in reader's page. A stale
session cookie is cleared; an unknown or revoked Bearer token is refused with 401.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from http.cookies import SimpleCookie
from typing import TYPE_CHECKING, Annotated

import anyio.to_thread
from fastapi import Depends
from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from papercast.domain.accounts import Reader, Via
from papercast.domain.accounts import Scope as TokenScope
from papercast.domain.errors import NotAllowed, NotSignedIn
from papercast.web.errors import error_response

if TYPE_CHECKING:
    from papercast.services.accounts import AccountService

log = logging.getLogger("papercast.web")

SESSION_COOKIE = "papercast_session"
PRIVATE = "private, no-store"
BEARER_INVALID = 'Bearer error="invalid_token"'
EXEMPT_PREFIXES = ("/static/", "/healthz", "/metrics", "/favicon.ico")


@dataclass(frozen=True)
class Credentials:
    """What a request presents: a session cookie's token, a Bearer token, or nothing."""

    session: str | None = None
    bearer: str | None = None
    other_authorization: bool = False  # an Authorization header of another scheme

    @property
    def present(self) -> bool:
        return self.session is not None or self.bearer is not None or self.other_authorization

    @classmethod
    def of(cls, scope: Scope) -> Credentials:
        headers = Headers(scope=scope)
        authorization = headers.get("authorization", "")
        scheme, _, value = authorization.partition(" ")
        bearer = value.strip() if scheme.lower() == "bearer" else None
        return cls(session=request_cookie(headers, SESSION_COOKIE), bearer=bearer,
                   other_authorization=bool(authorization) and bearer is None)


def request_cookie(headers: Headers, name: str) -> str | None:
    """The value of cookie `name`, or None (an unparsable Cookie header counts as none)."""
    raw = headers.get("cookie")
    if not raw:
        return None
    cookies: SimpleCookie = SimpleCookie()
    try:
        cookies.load(raw)
    except ValueError:  # http.cookies.CookieError
        return None
    morsel = cookies.get(name)
    return morsel.value if morsel is not None and morsel.value else None


class ReaderMiddleware:
    """Sets `scope["state"]["reader"]` (a `Reader` or None) before the routes run."""

    def __init__(self, app: ASGIApp, accounts: Callable[[], AccountService]) -> None:
        self.app = app
        self.accounts = accounts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path", "").startswith(EXEMPT_PREFIXES):
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        state["reader"] = None
        credentials = Credentials.of(scope)
        if not credentials.present:
            await self.app(scope, receive, send)
            return
        reader = await anyio.to_thread.run_sync(self._resolve, credentials)
        if reader is None and credentials.bearer is not None:
            response = error_response(Request(scope), 401, "The API token is unknown or revoked, or its "
                                      "account is not active.", {"WWW-Authenticate": BEARER_INVALID})
            await response(scope, receive, send)
            return
        state["reader"] = reader
        stale_cookie = credentials.session is not None and reader is None

        async def send_private(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["Cache-Control"] = PRIVATE
                if stale_cookie and SESSION_COOKIE not in headers.get("set-cookie", ""):
                    headers.append("Set-Cookie", expired_cookie(SESSION_COOKIE, "/"))
            await send(message)

        await self.app(scope, receive, send_private)

    def _resolve(self, credentials: Credentials) -> Reader | None:
        accounts = self.accounts()
        if credentials.bearer is not None:
            return accounts.reader_for_api_token(credentials.bearer)
        if credentials.session is not None:
            return accounts.reader_for_session(credentials.session)
        return None


def expired_cookie(name: str, path: str) -> str:
    return f"{name}=; Max-Age=0; Path={path}; HttpOnly; SameSite=Lax"


def current_reader(request: Request | None) -> Reader | None:
    """The request's reader, or None (also for requests the middleware did not see)."""
    if request is None:
        return None
    reader = request.scope.get("state", {}).get("reader")
    return reader if isinstance(reader, Reader) else None


def signed_in_reader(request: Request) -> Reader:
    """The reader, or `NotSignedIn` (401)."""
    reader = current_reader(request)
    if reader is None:
        raise NotSignedIn("sign in, or send an API token as `Authorization: Bearer pct_…`")
    return reader


def writing_reader(request: Request) -> Reader:
    """A reader whose credential may write, or `NotSignedIn` (401) / `NotAllowed` (403)."""
    reader = signed_in_reader(request)
    if not reader.may(TokenScope.WRITE):
        raise NotAllowed("this API token may only read; create one with the write scope to change things")
    return reader


def session_reader(request: Request) -> Reader | None:
    """The reader when signed in with a session (the pages' own credential), else None."""
    reader = current_reader(request)
    return reader if reader is not None and reader.via is Via.SESSION else None


SignedIn = Annotated[Reader, Depends(signed_in_reader)]
CanWrite = Annotated[Reader, Depends(writing_reader)]
