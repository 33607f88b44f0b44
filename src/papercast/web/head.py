"""HEAD answered like GET without the body (FastAPI routes declare GET only).

The routes below see a copy of the request scope that says GET; the server keeps its own scope,
which still says HEAD. uvicorn reads the method from that scope to decide whether a body must
follow the headers: changing it in place made uvicorn wait for `Content-Length` bytes that never
came, log two tracebacks and reset the kept-alive connection.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class HeadAsGetMiddleware:
    """Routes a HEAD request as GET and drops the body, keeping every header (Content-Length too)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return
        as_get = {**scope, "method": "GET"}

        async def send_without_body(message: Message) -> None:
            if message["type"] == "http.response.start" and "route" in as_get:
                scope["route"] = as_get["route"]  # for the metrics: the route that answered
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        await self.app(as_get, receive, send_without_body)
