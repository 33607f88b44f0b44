"""Cross-origin reads of the JSON API and the feeds: any origin may GET, nobody may write.

No credentials are involved (the API has no cookies), so `*` is safe. Pages are not shared.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

SHARED_PREFIXES = ("/api/", "/feeds/")
ALLOWED_METHODS = "GET, HEAD, OPTIONS"
ALLOWED_HEADERS = "Accept, If-None-Match, If-Modified-Since"
EXPOSED_HEADERS = "ETag, Link, Retry-After"


class ReadOnlyCorsMiddleware:
    """`Access-Control-Allow-Origin: *` on the shared paths, and answers to their preflights."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope.get("path", "").startswith(SHARED_PREFIXES):
            await self.app(scope, receive, send)
            return
        if scope["method"] == "OPTIONS" and _is_preflight(scope):
            await _preflight(send)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["Access-Control-Allow-Origin"] = "*"
                headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
            await send(message)

        await self.app(scope, receive, send_with_cors)


def _is_preflight(scope: Scope) -> bool:
    names = {name for name, _ in scope.get("headers", [])}
    return b"origin" in names and b"access-control-request-method" in names


async def _preflight(send: Send) -> None:
    headers = [
        (b"access-control-allow-origin", b"*"),
        (b"access-control-allow-methods", ALLOWED_METHODS.encode()),
        (b"access-control-allow-headers", ALLOWED_HEADERS.encode()),
        (b"access-control-max-age", b"86400"),
        (b"content-length", b"0"),
    ]
    await send({"type": "http.response.start", "status": 204, "headers": headers})
    await send({"type": "http.response.body", "body": b""})
