"""A polite HTTP client for arXiv and Hugging Face: one request at a time, spaced, retried.

At most one request every `harvest_request_interval` seconds (arXiv asks for 3), `503`
and `429` answered by waiting `Retry-After`, other server and network errors by
exponential backoff with jitter, and a cap on response size. With `turns` (the database's),
the spacing and one-request-at-a-time hold per host across every process and machine.
"""

from __future__ import annotations

import logging
import os
import random
import secrets
import socket
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, timedelta
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import httpx

from papercast.clock import Clock
from papercast.domain.backoff import backoff_seconds
from papercast.domain.errors import SourceError
from papercast.ports import RequestTurns

log = logging.getLogger("papercast.http")

DEFAULT_RETRY_AFTER = 30.0
# 503s are flow control, not failures, but a server that never stops sending them is broken.
MAX_FLOW_CONTROL_WAITS = 20
MIN_TURN_POLL = 0.5  # seconds between looks at another process's turn, at the least


@dataclass(frozen=True)
class HttpPolicy:
    request_interval: float = 3.0
    max_attempts: int = 8
    backoff_initial: float = 3.0
    backoff_max: float = 900.0
    timeout: float = 60.0
    max_response_bytes: int = 100_000_000
    user_agent: str = "papercast"


class PoliteHttpClient:
    """GET with spacing, retries and size limits; raises `SourceError` when it gives up."""

    def __init__(self, policy: HttpPolicy, clock: Clock, transport: httpx.BaseTransport | None = None,
                 rng: random.Random | None = None, turns: RequestTurns | None = None) -> None:
        self._policy = policy
        self._turns = turns
        self._holder = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self._clock = clock
        self._client = httpx.Client(timeout=policy.timeout, transport=transport, follow_redirects=True,
                                    headers={"User-Agent": policy.user_agent})
        self._lock = threading.Lock()
        self._last_request: float | None = None
        self._rng = rng or random.Random()

    def close(self) -> None:
        self._client.close()

    def get(self, url: str, params: Mapping[str, str] | None = None) -> bytes:
        """The body of a successful GET of `url`."""
        failures = 0
        flow_waits = 0
        while True:
            try:
                response = self._request(url, params)
            except httpx.HTTPError as error:
                failures += 1
                self._back_off(url, failures, f"{type(error).__name__}: {error}")
                continue
            status, body, retry_after = response
            if status in (429, 503):
                flow_waits += 1
                if flow_waits > MAX_FLOW_CONTROL_WAITS:
                    raise SourceError(f"{url} kept answering {status} after {flow_waits - 1} waits",
                                      code=f"http-{status}")
                wait = retry_after if retry_after is not None else DEFAULT_RETRY_AFTER
                log.info("http.retry_after url=%s status=%d wait=%.1f", url, status, wait)
                self._clock.sleep(wait)
                continue
            if status >= 500:
                failures += 1
                self._back_off(url, failures, f"HTTP {status}")
                continue
            if status >= 400:
                raise SourceError(f"{url} answered HTTP {status}: {_excerpt(body)}", code=f"http-{status}",
                                  body=body)
            return body

    def _back_off(self, url: str, failures: int, reason: str) -> None:
        if failures >= self._policy.max_attempts:
            raise SourceError(f"giving up on {url} after {failures} attempts: {reason}", code="http-failed")
        delay = backoff_seconds(failures, self._policy.backoff_initial, self._policy.backoff_max,
                                self._rng.random())
        log.warning("http.backoff url=%s attempt=%d reason=%r wait=%.1f", url, failures, reason, delay)
        self._clock.sleep(delay)

    def _request(self, url: str, params: Mapping[str, str] | None) -> tuple[int, bytes, float | None]:
        with self._lock:
            self._wait_for_turn()
            with self._shared_turn(url):
                self._last_request = self._clock.monotonic()
                with self._client.stream("GET", url, params=params) as response:
                    body = self._read_limited(response, url)
                    return response.status_code, body, _retry_after(response.headers.get("Retry-After"),
                                                                    self._clock)

    @contextmanager
    def _shared_turn(self, url: str) -> Iterator[None]:
        """Hold the host's turn across processes while the request runs (when `turns` is given)."""
        if self._turns is None:
            yield
            return
        host, interval = pacing_host(url), self._policy.request_interval
        # A holder that dies mid-request frees the turn after this long.
        hold = timedelta(seconds=self._policy.timeout + interval)
        while (wait := self._turns.take(host, self._holder, hold)) > 0:
            # Another process's request may end early: look again at least every interval.
            self._clock.sleep(min(wait, max(interval, MIN_TURN_POLL)))
        started = self._clock.now()
        try:
            yield
        finally:
            self._turns.end(host, self._holder, timedelta(seconds=interval), started)

    def _wait_for_turn(self) -> None:
        if self._last_request is None:
            return
        elapsed = self._clock.monotonic() - self._last_request
        if elapsed < self._policy.request_interval:
            self._clock.sleep(self._policy.request_interval - elapsed)

    def _read_limited(self, response: httpx.Response, url: str) -> bytes:
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > self._policy.max_response_bytes:
                raise SourceError(f"{url} sent more than {self._policy.max_response_bytes} bytes",
                                  code="too-large")
            chunks.append(chunk)
        return b"".join(chunks)


def pacing_host(url: str) -> str:
    """Whose turn a request waits for: the host's last two labels (`oaipmh.arxiv.org` and
    `export.arxiv.org` are both `arxiv.org`, whose limit covers all its APIs), an IP as it is."""
    host = (urlsplit(url).hostname or "").lower()
    labels = host.split(".")
    if len(labels) <= 2 or all(label.isdigit() for label in labels):
        return host
    return ".".join(labels[-2:])


def _retry_after(value: str | None, clock: Clock) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:  # asctime and "-0000" dates carry no zone; HTTP dates are UTC
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - clock.now()).total_seconds())


def _excerpt(body: bytes, limit: int = 300) -> str:
    text = body[:limit].decode("utf-8", "replace").strip()
    return " ".join(text.split())
