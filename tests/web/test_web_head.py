"""HEAD under a real uvicorn server: answered like GET without a body, on a kept-alive connection
that the next request can still use, and with nothing in the server's log.

A TestClient cannot show this: the damage (a body shorter than its Content-Length, a reset
connection) happens in uvicorn's protocol layer, so the app runs behind uvicorn on a loopback
socket and is spoken to over one raw `http.client` connection.
"""

from __future__ import annotations

import http.client
import logging
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from web_corpus import MATH_ID, make_papercast

from papercast.web.app import create_app

# One of each kind of answer: a page, an API read, a feed, the health check, a static file, a 404.
PATHS = ("/", f"/api/v1/papers/{MATH_ID}", "/feeds/recent.atom", "/healthz", "/static/papercast.css",
         "/papers/2999.99999")
COMPARED_HEADERS = ("content-length", "content-type", "etag", "cache-control")


@pytest.fixture(params=["h11", "httptools"])
def live_server(request: pytest.FixtureRequest, tmp_path: Path,
                caplog: pytest.LogCaptureFixture) -> Iterator[int]:
    """The app under uvicorn (each of its HTTP implementations) in a thread; yields the port."""
    caplog.set_level(logging.INFO)
    papercast = make_papercast(f"sqlite:///{tmp_path / 'papercast.db'}", tmp_path)
    config = uvicorn.Config(create_app(papercast.web_services()), http=request.param, log_config=None,
                            lifespan="on")
    server = uvicorn.Server(config)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started, "uvicorn did not start"
    try:
        yield int(listener.getsockname()[1])
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        listener.close()
        papercast.close()


def _exchange(connection: http.client.HTTPConnection, method: str,
              path: str) -> tuple[int, dict[str, str], bytes]:
    connection.request(method, path)
    response = connection.getresponse()
    body = response.read()
    return response.status, {name.lower(): value for name, value in response.getheaders()}, body


def test_head_answers_like_get_without_a_body_on_a_connection_that_stays_open(
        live_server: int, caplog: pytest.LogCaptureFixture) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", live_server, timeout=30)
    try:
        for path in PATHS:
            head_status, head_headers, head_body = _exchange(connection, "HEAD", path)
            opened = connection.sock
            assert opened is not None, f"HEAD {path} closed the connection"
            get_status, get_headers, get_body = _exchange(connection, "GET", path)
            assert connection.sock is opened, f"GET {path} needed a new connection after HEAD"
            assert head_body == b"" and get_body, path
            assert head_status == get_status, path
            assert int(head_headers["content-length"]) == len(get_body), path
            for name in COMPARED_HEADERS:
                assert head_headers.get(name) == get_headers.get(name), (path, name)
            assert "connection" not in head_headers, path  # nothing asked to close it
        _, _, metrics = _exchange(connection, "GET", "/metrics")
    finally:
        connection.close()
    troubles = [record for record in caplog.records
                if record.exc_info or record.levelno >= logging.ERROR]
    assert not troubles, [record.getMessage() for record in troubles]
    # The metrics still name the route that answered a HEAD, and the method it came as.
    assert b'{method="HEAD",route="/feeds/recent.atom",status="200"} 1' in metrics
