"""A real HTTP server on 127.0.0.1 that replays recorded responses, for harvest and HTTP-client tests.

    server.route("/oai", {"verb": "ListRecords", "resumptionToken": None}, body=page_one)
    server.route("/oai", {"resumptionToken": "726959|1001"}, body=page_two)
    server.route("/api", status=503, headers={"Retry-After": "1"}, times=1)   # then the next rule

Rules are tried in the order they were added; a rule with `times` is used up after that many
answers, so a sequence (503 once, then 200) is two rules. A `match` is a dict of query
parameters that must be present with those values (`None`: must be absent) or a predicate on
the parameters. A request no rule matches gets a 404 and is kept in `unmatched`.

Every request is logged in `requests` (before its answer is sent, so a client that has its
answer finds it there) with the monotonic time it arrived and was answered, its path and
parameters; `max_concurrency` is the most requests the server was handling at once.

Fixture helpers read the shared data fixtures, unwrapping the recorded `{"url", "status_code",
"body"}` JSON files whose body holds the raw bytes decoded as latin-1.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest

Match = Mapping[str, str | None] | Callable[[dict[str, str]], bool] | None

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "fixtures"
OAI_SAELIM = FIXTURES / "arxiv-oai-pmh" / "mikesaelim-arXivOAIHarvester"
OAI_INVENIO = FIXTURES / "arxiv-oai-pmh" / "inveniosoftware-invenio-oaiharvester"
API_RECORDED = FIXTURES / "arxiv-api-atom" / "lukasschwab-arxiv.py" / "2026-recorded"
HF_DAILY = FIXTURES / "hf-daily-papers" / "lucas-m-lopes-sotawhat" / "hf_daily_papers.json"


@dataclass(frozen=True)
class RecordedRequest:
    """One request the server received."""

    started: float  # time.monotonic() when its headers had been read
    finished: float  # time.monotonic() just before the answer went out (or the connection dropped)
    method: str
    path: str
    params: dict[str, str]  # the query parameters (the last value of a repeated one)
    query: str  # the raw query string
    headers: dict[str, str]


@dataclass
class Rule:
    path: str
    match: Match
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    times: int | None = None  # answers before the rule is used up; None: for ever
    delay: float = 0.0  # seconds to hold the request before answering
    drop: bool = False  # close the connection without any answer
    truncate_at: int | None = None  # announce the whole body, send this many bytes, close
    used: int = 0

    def matches(self, path: str, params: dict[str, str]) -> bool:
        if path != self.path or (self.times is not None and self.used >= self.times):
            return False
        if self.match is None:
            return True
        if callable(self.match):
            return bool(self.match(params))
        return all(params.get(key) == value if value is not None else key not in params
                   for key, value in self.match.items())


class ReplayServer:
    """A ThreadingHTTPServer on 127.0.0.1 (a free port) serving `route`d answers from a daemon thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[Rule] = []
        self.requests: list[RecordedRequest] = []
        self.unmatched: list[RecordedRequest] = []
        self.max_concurrency = 0
        self._in_flight = 0
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.replay = self
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="replay-server", daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url_for(self, path: str) -> str:
        return f"{self.url}{path}"

    def route(self, path: str, match: Match = None, status: int = 200, body: bytes | str = b"",
              headers: Mapping[str, str] | None = None, *, times: int | None = None, delay: float = 0.0,
              drop: bool = False, truncate_at: int | None = None) -> Rule:
        """Answer GETs of `path` whose parameters fit `match`; rules are tried in the order added."""
        data = body.encode("utf-8") if isinstance(body, str) else bytes(body)
        rule = Rule(path, match, status, data, dict(headers or {}), times, delay, drop, truncate_at)
        with self._lock:
            self._rules.append(rule)
        return rule

    def clear_routes(self) -> None:
        with self._lock:
            self._rules.clear()

    def clear_log(self) -> None:
        with self._lock:
            self.requests.clear()
            self.unmatched.clear()
            self.max_concurrency = 0

    def requests_to(self, path: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == path]

    def gaps(self, path: str | None = None) -> list[float]:
        """Seconds between the arrivals of consecutive requests (to `path`, or to any path)."""
        starts = sorted(r.started for r in self.requests if path is None or r.path == path)
        return [later - earlier for earlier, later in zip(starts, starts[1:], strict=False)]

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> ReplayServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # Called by the handler threads.
    def _enter(self) -> None:
        with self._lock:
            self._in_flight += 1
            self.max_concurrency = max(self.max_concurrency, self._in_flight)

    def _leave(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def _pick(self, path: str, params: dict[str, str]) -> Rule | None:
        with self._lock:
            for rule in self._rules:
                if rule.matches(path, params):
                    rule.used += 1
                    return rule
        return None

    def _log(self, request: RecordedRequest, matched: bool) -> None:
        with self._lock:
            self.requests.append(request)
            if not matched:
                self.unmatched.append(request)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    replay: ReplayServer


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"  # keep-alive, as arXiv serves it; httpx reuses the connection

    def do_GET(self) -> None:  # noqa: N802 - the name http.server dispatches to
        started = time.monotonic()
        replay = self.server.replay
        replay._enter()
        split = urlsplit(self.path)
        params = dict(parse_qsl(split.query, keep_blank_values=True))
        rule = replay._pick(split.path, params)
        try:
            if rule is not None and rule.delay:
                time.sleep(rule.delay)
        finally:
            # Logged and counted out before the answer goes out: once the client has its
            # answer, the test can rely on the log, and the next request cannot look concurrent.
            replay._leave()
            replay._log(RecordedRequest(started, time.monotonic(), "GET", split.path, params, split.query,
                                        dict(self.headers.items())), matched=rule is not None)
        if rule is None:
            self._send(404, f"no route for {self.path}".encode(), {"Content-Type": "text/plain"})
        else:
            self._answer(rule)

    def _answer(self, rule: Rule) -> None:
        if rule.drop:
            self.close_connection = True
            return
        headers = {"Content-Type": "application/octet-stream", **rule.headers}
        if rule.truncate_at is not None:
            self.send_response(rule.status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(rule.body)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(rule.body[:rule.truncate_at])
            self.wfile.flush()
            self.close_connection = True
            return
        self._send(rule.status, rule.body, headers)

    def _send(self, status: int, body: bytes, headers: Mapping[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the stdlib's signature
        pass


@pytest.fixture(name="replay_server")
def replay_server_fixture() -> Iterator[ReplayServer]:
    """A running replay server, shut down after the test.

    Use it with `from support.replay_server import replay_server_fixture  # noqa: F401`; tests
    then ask for `replay_server`.
    """
    with ReplayServer() as server:
        yield server


# --- the shared data fixtures -------------------------------------------------------------------


@dataclass(frozen=True)
class RecordedResponse:
    """A recorded HTTP response: where it came from, its status and its raw body bytes."""

    url: str
    status: int
    body: bytes

    @property
    def params(self) -> dict[str, str]:
        return dict(parse_qsl(urlsplit(self.url).query, keep_blank_values=True))


def fixture_bytes(path: Path) -> bytes:
    """The bytes of a fixture file; a recorded `{"url", "status_code", "body"}` wrapper is unwrapped."""
    if path.suffix == ".json" and path.parent.name == "2026-recorded":
        return load_recorded(path).body
    return path.read_bytes()


def load_recorded(path: Path) -> RecordedResponse:
    """A recorded response file; its `body` is the raw bytes decoded as latin-1."""
    wrapper = json.loads(path.read_text(encoding="utf-8"))
    return RecordedResponse(wrapper["url"], int(wrapper["status_code"]), wrapper["body"].encode("latin-1"))


def recorded_api(pattern: str) -> RecordedResponse:
    """The one recorded arXiv API response whose file name matches `pattern` (e.g. `q_testing_s0_m10_*`)."""
    found = sorted(API_RECORDED.glob(pattern if pattern.endswith(".json") else f"{pattern}.json"))
    if len(found) != 1:
        raise LookupError(f"{len(found)} recorded responses match {pattern!r} in {API_RECORDED}")
    return load_recorded(found[0])
