"""Prometheus metrics in the text exposition format, kept in the process that serves requests.

Requests are counted by method, route template (`/papers/{paper_id}`, never the raw path,
so a crawler cannot grow the label set) and status; latency goes into a histogram per route.
Gauges (catalog size, embedding backlog, jobs, mail) are read when `/metrics` is scraped. With several web
processes each reports its own counters; sum them in Prometheus.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass, field

from starlette.types import ASGIApp, Message, Receive, Scope, Send

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1.0, 2.5, 5.0, 10.0)
UNMATCHED_ROUTE = "unmatched"


@dataclass(frozen=True)
class Gauge:
    name: str
    help: str
    value: float
    labels: tuple[tuple[str, str], ...] = ()


@dataclass
class _Latency:
    buckets: list[int] = field(default_factory=lambda: [0] * len(LATENCY_BUCKETS))
    total: float = 0.0
    count: int = 0


class HttpMetrics:
    """Request counters and latency histograms; `observe` is called once per response."""

    def __init__(self) -> None:
        self._requests: dict[tuple[str, str, str], int] = {}
        self._latency: dict[str, _Latency] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, str(status))
        self._requests[key] = self._requests.get(key, 0) + 1
        latency = self._latency.setdefault(route, _Latency())
        index = bisect_left(LATENCY_BUCKETS, seconds)
        if index < len(LATENCY_BUCKETS):
            latency.buckets[index] += 1
        latency.total += seconds
        latency.count += 1

    def requests(self, route: str, status: int) -> int:
        return sum(n for (_, r, s), n in self._requests.items() if r == route and s == str(status))

    def render(self, gauges: Iterable[Gauge] = ()) -> str:
        lines = ["# HELP papercast_http_requests_total HTTP responses by method, route template and status.",
                 "# TYPE papercast_http_requests_total counter"]
        for (method, route, status), count in sorted(self._requests.items()):
            labels = _labels((("method", method), ("route", route), ("status", status)))
            lines.append(f"papercast_http_requests_total{labels} {count}")
        lines += ["# HELP papercast_http_request_duration_seconds Seconds to answer, by route template.",
                  "# TYPE papercast_http_request_duration_seconds histogram"]
        for route, latency in sorted(self._latency.items()):
            lines.extend(_histogram_lines("papercast_http_request_duration_seconds", route, latency))
        by_name: dict[str, list[Gauge]] = {}
        for gauge in gauges:  # one HELP and TYPE per metric, then every labelled sample of it
            by_name.setdefault(gauge.name, []).append(gauge)
        for name, samples in by_name.items():
            lines += [f"# HELP {name} {samples[0].help}", f"# TYPE {name} gauge"]
            lines += [f"{name}{_labels(gauge.labels)} {_number(gauge.value)}" for gauge in samples]
        return "\n".join(lines) + "\n"


def _histogram_lines(name: str, route: str, latency: _Latency) -> list[str]:
    lines = []
    cumulative = 0
    for bound, count in zip(LATENCY_BUCKETS, latency.buckets, strict=True):
        cumulative += count
        lines.append(f"{name}_bucket{_labels((('route', route), ('le', _number(bound))))} {cumulative}")
    lines.append(f"{name}_bucket{_labels((('route', route), ('le', '+Inf')))} {latency.count}")
    lines.append(f"{name}_sum{_labels((('route', route),))} {_number(latency.total)}")
    lines.append(f"{name}_count{_labels((('route', route),))} {latency.count}")
    return lines


def _labels(pairs: Iterable[tuple[str, str]]) -> str:
    text = ",".join(f'{name}="{_escape(value)}"' for name, value in pairs)
    return "{" + text + "}" if text else ""


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


def route_template(scope: Scope) -> str:
    """The template of the route that answered (`/papers/{paper_id}`), or `unmatched`."""
    route = scope.get("route")
    if route is None:
        return UNMATCHED_ROUTE
    return str(getattr(route, "path_format", None) or getattr(route, "path", UNMATCHED_ROUTE))


class MetricsMiddleware:
    """Times every HTTP request from its start to the end of its response body."""

    def __init__(self, app: ASGIApp, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]

        async def send_and_record(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                self.metrics.observe(scope["method"], route_template(scope), status[0],
                                     time.perf_counter() - started)

        await self.app(scope, receive, send_and_record)
