"""A polite HTTP client for arXiv and Hugging Face: one request at a time, spaced, retried.

At most one request every `harvest_request_interval` seconds (arXiv asks for 3), `503`
and `429` answered by waiting `Retry-After`, other server and network errors by
exponential backoff with jitter, and a cap on response size.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC
from email.utils import parsedate_to_datetime

import httpx

from papercast.clock import Clock
from papercast.domain.backoff import backoff_seconds
from papercast.domain.errors import SourceError

log = logging.getLogger("papercast.http")

DEFAULT_RETRY_AFTER = 30.0
# 503s are flow control, not failures, but a server that never stops sending them is broken.
MAX_FLOW_CONTROL_WAITS = 20


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
                 rng: random.Random | None = None) -> None:
        self._policy = policy
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
            self._last_request = self._clock.monotonic()
            with self._client.stream("GET", url, params=params) as response:
                body = self._read_limited(response, url)
                return response.status_code, body, _retry_after(response.headers.get("Retry-After"),
                                                                self._clock)

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
