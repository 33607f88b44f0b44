"""CSRF protection of every state-changing request that a browser's cookies could authorise.

A POST, PUT, PATCH or DELETE is refused (403) unless it carries the right token, as the form
field `csrf_token` (urlencoded forms) or the header `X-CSRF-Token` (scripts):

- with a session cookie, a synchronizer token bound to the session: a keyed hash of the
  session's token hash (`TokenSigner.digest("csrf", …)`), so it needs no storage and ends with
  the session;
- without one (the sign-in and subscription forms), a signed double-submit token: a random
  cookie scoped to `/sign-in` or `/subscribe`, and the keyed hash of it in the form.

Requests authorised by `Authorization: Bearer` carry no ambient credential and need no token; an
API request with no credentials at all has nothing to forge (its route answers 401). A request
whose `Sec-Fetch-Site` or `Origin` names another site is refused whatever it carries.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from papercast.domain.accounts import Via
from papercast.domain.errors import InvalidInput
from papercast.domain.tokens import TokenSigner, new_secret, secret_hash
from papercast.web.errors import error_response
from papercast.web.forms import FORM_TYPE, MAX_FORM_BYTES, parse_form
from papercast.web.problems import wants_problem
from papercast.web.readers import SESSION_COOKIE, current_reader, request_cookie

FORM_FIELD = "csrf_token"
HEADER = "x-csrf-token"
ANONYMOUS_COOKIE = "papercast_csrf"
# The anonymous forms' cookie is sent only under these paths (the one a form's page is under):
# other pages stay cacheable.
ANONYMOUS_COOKIE_PATHS = ("/sign-in", "/subscribe")
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Routes that authorise themselves otherwise. A test fails when this changes, so that it is
# never widened by accident. `/unsubscribe`: the digest's one-click unsubscribe (RFC 8058) is
# POSTed by mail providers without cookies or tokens; the unguessable, signed token in its URL
# is what authorises it, and the worst a forged request could do is what the link's owner asked.
EXEMPT_PATHS: frozenset[str] = frozenset({"/unsubscribe"})
SESSION_PURPOSE = "csrf"
ANONYMOUS_PURPOSE = "csrf-anonymous"


def csrf_token(request: Request) -> str:
    """The token this request's forms must send back (templates call it)."""
    signer = _signer_of(request)
    session = _valid_session(request)
    if session is not None:
        return signer.digest(SESSION_PURPOSE, secret_hash(session))
    anonymous = request.scope.get("state", {}).get("csrf_cookie") or request_cookie(request.headers,
                                                                                    ANONYMOUS_COOKIE)
    if anonymous is None:
        raise RuntimeError("an anonymous form needs `ensure_anonymous_cookie` first")
    return signer.digest(ANONYMOUS_PURPOSE, anonymous)


def ensure_anonymous_cookie(request: Request) -> str | None:
    """Make sure an anonymous form's cookie exists: returns a new value to set on the response
    (`set_anonymous_cookie`), or None when the browser has one (or is signed in)."""
    if _valid_session(request) or request_cookie(request.headers, ANONYMOUS_COOKIE):
        return None
    value = new_secret(24)
    request.scope.setdefault("state", {})["csrf_cookie"] = value
    return value


def _valid_session(request: Request) -> str | None:
    """The session cookie, when it stands for a signed-in reader (a stale one is being cleared)."""
    reader = current_reader(request)
    if reader is None or reader.via is not Via.SESSION:
        return None
    return request_cookie(request.headers, SESSION_COOKIE)


def set_anonymous_cookie(request: Request, response: Response, value: str | None) -> None:
    if value is not None:
        response.set_cookie(ANONYMOUS_COOKIE, value, path=anonymous_cookie_path(request.url.path),
                            httponly=True, samesite="lax", secure=is_secure(request))


def anonymous_cookie_path(path: str) -> str:
    """The cookie path of the anonymous forms under `path` (the first family when none is)."""
    under = (prefix for prefix in ANONYMOUS_COOKIE_PATHS if path == prefix or path.startswith(prefix + "/"))
    return next(under, ANONYMOUS_COOKIE_PATHS[0])


def is_secure(request: Request) -> bool:
    """Whether cookies get `Secure`: served over HTTPS here, or the public address is HTTPS
    (a TLS proxy in front that does not say so)."""
    base_url: str = request.app.state.web.config.base_url
    return request.url.scheme == "https" or base_url.startswith("https://")


class CsrfMiddleware:
    """Refuses unsafe requests without the right token (see the module's doc)."""

    def __init__(self, app: ASGIApp, signer: Callable[[], TokenSigner], base_url: str) -> None:
        self.app = app
        self.signer = signer
        self.base_origin = _origin(base_url)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in UNSAFE_METHODS or scope["path"] in EXEMPT_PATHS:
            await self.app(scope, receive, send)
            return
        reader = current_reader(Request(scope))
        headers = Headers(scope=scope)
        if reader is not None and reader.via is Via.TOKEN:
            await self.app(scope, receive, send)
            return
        foreign = self._foreign_origin(scope, headers)
        if foreign:
            await _refuse(scope, receive, send, foreign)
            return
        expected = _expected(Request(scope), wants_problem(scope["path"]))
        if expected is None:
            await self.app(scope, receive, send)
            return
        purpose, value = expected
        if not value:
            await _refuse(scope, receive, send, "The form has no cookie to check it against: allow cookies "
                          "for this site, reload the page and try again.")
            return
        supplied, replay = await _supplied_token(headers, receive)
        if supplied is None or not self.signer().matches(purpose, value, supplied):
            await _refuse(scope, receive, send, "The form was out of date or came from another site: go "
                          "back, reload the page and try again.")
            return
        await self.app(scope, replay, send)

    def _foreign_origin(self, scope: Scope, headers: Headers) -> str | None:
        site = headers.get("sec-fetch-site")
        if site is not None and site not in ("same-origin", "none"):
            return f"Refused a request from another site (Sec-Fetch-Site: {site})."
        origin = headers.get("origin")
        if origin is None:
            return None
        own = {self.base_origin, _origin(f"{scope.get('scheme', 'http')}://{headers.get('host', '')}")}
        if origin.lower() not in own:
            return f"Refused a request from another site (Origin: {origin[:100]})."
        return None


def _expected(request: Request, api: bool) -> tuple[str, str] | None:
    """(purpose, value) the token must be the digest of; ("", "") when a form has nothing to be
    checked against; None when nothing needs checking (an API request without a session)."""
    session = _valid_session(request)
    if session is not None:
        return SESSION_PURPOSE, secret_hash(session)
    if api:
        return None
    anonymous = request_cookie(request.headers, ANONYMOUS_COOKIE)
    return (ANONYMOUS_PURPOSE, anonymous) if anonymous else ("", "")


async def _supplied_token(headers: Headers, receive: Receive) -> tuple[str | None, Receive]:
    """The token the request sent (header first, else the urlencoded form's field), and a
    `receive` that gives the routes the body again."""
    if headers.get(HEADER):
        return headers[HEADER], receive
    if not headers.get("content-type", "").startswith(FORM_TYPE):
        return None, receive
    body, complete = b"", False
    while not complete and len(body) <= MAX_FORM_BYTES:
        message = await receive()
        if message["type"] != "http.request":
            return None, receive
        body += message.get("body", b"")
        complete = not message.get("more_body", False)
    try:
        token = parse_form(body).get(FORM_FIELD) if complete else None
    except InvalidInput:
        return None, receive
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if replayed:
            return await receive()
        replayed = True
        return {"type": "http.request", "body": body, "more_body": False}

    return token, replay


async def _refuse(scope: Scope, receive: Receive, send: Send, detail: str) -> None:
    response = error_response(Request(scope), 403, detail)
    await response(scope, receive, send)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def _signer_of(request: Request) -> TokenSigner:
    signer: TokenSigner = request.app.state.web.signer()
    return signer
