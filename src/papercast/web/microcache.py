"""A small in-process cache of whole responses, keyed by URL and by the version of the data.

Pages are the same for every visitor, and rendering one costs far more than sending it again.
A GET answered 200 with `Cache-Control: public` is kept (bounded in entries and age) together
with the version of what it was computed from: the catalog's change sequence and the sequences
of the search indexes as loaded (a search answered before the index caught up with a write, or
before the vectors arrived, must not outlive that index). Any write to the catalog and any
catch-up of an index moves the version on, so no entry outlives the data it shows (by more than
`VERSION_TTL` seconds, the time the version itself is reused). Answers marked `no-store` (a
degraded, keyword-only search) are never kept. Hits still answer `If-None-Match` with 304.

Only anonymous reads share entries: a request with a session cookie or an Authorization header
neither reads nor fills the cache, and a response that sets a cookie is never kept.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

import anyio.to_thread
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from papercast.web.caching import matches_etag
from papercast.web.readers import SESSION_COOKIE

VERSION_TTL = 1.0
MAX_BODY_BYTES = 512 * 1024
EXEMPT_PREFIXES = ("/static/", "/healthz", "/metrics")


@dataclass(frozen=True)
class CachedResponse:
    version: Hashable
    stored_at: float
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes
    route: Any


class ResponseCache:
    """Least-recently-used entries, each valid while the data version is unchanged."""

    def __init__(self, max_entries: int, max_age: float, version: Callable[[], Hashable],
                 now: Callable[[], float]) -> None:
        self.max_entries = max_entries
        self.max_age = max_age
        self._version_source = version
        self._now = now
        self._entries: OrderedDict[tuple[str, str, str], CachedResponse] = OrderedDict()
        self._version: tuple[Hashable, float] | None = None

    async def version(self) -> Hashable:
        """The data version, read again (off the event loop) at most every `VERSION_TTL` s."""
        moment = self._now()
        if self._version is None or moment - self._version[1] > VERSION_TTL:
            self._version = (await anyio.to_thread.run_sync(self._version_source), moment)
        return self._version[0]

    def get(self, key: tuple[str, str, str], version: Hashable) -> CachedResponse | None:
        entry = self._entries.get(key)
        if entry is None or entry.version != version or self._now() - entry.stored_at > self.max_age:
            return None
        self._entries.move_to_end(key)
        return entry

    def put(self, key: tuple[str, str, str], entry: CachedResponse) -> None:
        self._entries[key] = entry
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def now(self) -> float:
        return self._now()

    def __len__(self) -> int:
        return len(self._entries)


class ResponseCacheMiddleware:
    def __init__(self, app: ASGIApp, cache: ResponseCache | None) -> None:
        self.app = app
        self.cache = cache

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        cache = self.cache
        if (cache is None or scope["type"] != "http" or scope["method"] != "GET"
                or scope["path"].startswith(EXEMPT_PREFIXES)):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if _personal(headers):
            await self.app(scope, receive, send)
            return
        key = (headers.get("host", ""), scope["path"], scope.get("query_string", b"").decode("latin-1"))
        version = await cache.version()
        entry = cache.get(key, version)
        if entry is not None:
            scope["route"] = entry.route  # for the metrics: the route that made the page
            await _replay(entry, headers.get("if-none-match", ""), send)
            return
        await self._fill(scope, receive, send, key, version)

    async def _fill(self, scope: Scope, receive: Receive, send: Send, key: tuple[str, str, str],
                    version: Hashable) -> None:
        assert self.cache is not None
        cache = self.cache
        start: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False) and _cacheable(start, chunks):
                    cache.put(key, CachedResponse(version, cache.now(), start["status"],
                                                  list(start.get("headers", [])), b"".join(chunks),
                                                  scope.get("route")))
            await send(message)

        await self.app(scope, receive, capture)


def _personal(headers: Headers) -> bool:
    """Whether a request may be answered for one reader only: it carries credentials."""
    return "authorization" in headers or SESSION_COOKIE in headers.get("cookie", "")


def _cacheable(start: dict[str, Any], chunks: list[bytes]) -> bool:
    if start.get("status") != 200 or sum(map(len, chunks)) > MAX_BODY_BYTES:
        return False
    headers = Headers(raw=list(start.get("headers", [])))
    return "public" in headers.get("cache-control", "") and "set-cookie" not in headers


async def _replay(entry: CachedResponse, if_none_match: str, send: Send) -> None:
    headers = Headers(raw=entry.headers)
    etag = headers.get("etag")
    if etag and matches_etag(if_none_match, etag):
        kept = [(name, value) for name, value in entry.headers
                if name.lower() in (b"etag", b"cache-control", b"link")]
        await send({"type": "http.response.start", "status": 304, "headers": kept})
        await send({"type": "http.response.body", "body": b""})
        return
    await send({"type": "http.response.start", "status": entry.status, "headers": entry.headers})
    await send({"type": "http.response.body", "body": entry.body})
