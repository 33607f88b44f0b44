"""Per-client token buckets, and the ASGI middleware that answers 429 with `Retry-After`.

Each client (its IP address, as uvicorn reports it after trusted proxy headers) has a bucket of
`burst` tokens refilled at `per_minute / 60` tokens a second; a request takes one. Buckets live
in the process: with N web processes a client may get up to N times the rate, which is the price
of having no shared store. Static files, `/healthz` and `/metrics` are never limited.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send

# Forget the least recently seen clients beyond this many buckets (bounded memory).
MAX_CLIENTS = 50_000
EXEMPT_PREFIXES = ("/static/", "/healthz", "/metrics", "/favicon.ico")


@dataclass(frozen=True)
class Decision:
    allowed: bool
    remaining: int
    retry_after: float


class TokenBuckets:
    """Token buckets keyed by client; `now` is a monotonic clock in seconds."""

    def __init__(self, per_minute: float, burst: int, now: Callable[[], float],
                 max_clients: int = MAX_CLIENTS) -> None:
        self.rate = per_minute / 60.0
        self.capacity = float(max(1, burst))
        self._now = now
        self._max_clients = max_clients
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, client: str) -> Decision:
        """Take one token for `client`, or say how long until one is there."""
        moment = self._now()
        tokens, last = self._buckets.pop(client, (self.capacity, moment))
        tokens = min(self.capacity, tokens + (moment - last) * self.rate)
        if tokens >= 1.0:
            tokens -= 1.0
            decision = Decision(True, int(tokens), 0.0)
        else:
            decision = Decision(False, 0, (1.0 - tokens) / self.rate)
        self._buckets[client] = (tokens, moment)
        if len(self._buckets) > self._max_clients:
            self._buckets.popitem(last=False)
        return decision


# Renders the 429 answer for a path (HTML page or problem+json): (status, headers, body).
Rejection = Callable[[Scope, int], tuple[list[tuple[bytes, bytes]], bytes]]


class RateLimitMiddleware:
    """Takes a token per request; an empty bucket gets 429 with `Retry-After` in whole seconds."""

    def __init__(self, app: ASGIApp, buckets: TokenBuckets | None, reject: Rejection) -> None:
        self.app = app
        self.buckets = buckets
        self.reject = reject

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if self.buckets is None or scope["type"] != "http" or path.startswith(EXEMPT_PREFIXES):
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        decision = self.buckets.take(client[0] if client else "unknown")
        if decision.allowed:
            await self.app(scope, receive, send)
            return
        retry_after = max(1, math.ceil(decision.retry_after))
        headers, body = self.reject(scope, retry_after)
        headers = [*headers, (b"retry-after", str(retry_after).encode()),
                   (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 429, "headers": headers})
        await send({"type": "http.response.body", "body": body})
