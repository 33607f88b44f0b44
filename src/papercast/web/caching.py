"""HTTP caching of reads: a weak ETag from the body, `If-None-Match` answered with 304, and
`Cache-Control` saying how long a shared cache may keep the answer, or that none may keep it
(an answer that is worse than usual for a passing reason, such as a keyword-only search)."""

from __future__ import annotations

import hashlib

from starlette.requests import Request
from starlette.responses import Response

# A shared cache keeps one answer for anonymous requests; a signed-in reader's request (a
# session cookie, an API token) must not be answered with it.
VARY = "Cookie, Authorization"


def weak_etag(body: bytes) -> str:
    return f'W/"{hashlib.blake2b(body, digest_size=16).hexdigest()}"'


def cached(request: Request, response: Response, max_age: int, *, store: bool = True) -> Response:
    """`response` with ETag and Cache-Control, or a bodiless 304 when the client has it already.
    Without `store`, no cache (the browser's, a proxy's, ours) may keep it: `no-store`."""
    if request.method not in ("GET", "HEAD") or response.status_code != 200:
        return response
    if not store:
        response.headers["Cache-Control"] = "no-store"
        return response
    tag = weak_etag(bytes(response.body))
    cache_control = f"public, max-age={max_age}" if max_age > 0 else "no-cache"
    if matches_etag(request.headers.get("if-none-match", ""), tag):
        headers = {"ETag": tag, "Cache-Control": cache_control, "Vary": VARY}
        link = response.headers.get("link")
        if link:
            headers["Link"] = link
        return Response(status_code=304, headers=headers)
    response.headers["ETag"] = tag
    response.headers["Cache-Control"] = cache_control
    response.headers["Vary"] = VARY
    return response


def matches_etag(header: str, tag: str) -> bool:
    """Weak comparison (RFC 9110 §13.1.2): `W/` prefixes are ignored on both sides."""
    if not header:
        return False
    if header.strip() == "*":
        return True
    wanted = tag.removeprefix("W/")
    return any(candidate.strip().removeprefix("W/") == wanted for candidate in header.split(","))
