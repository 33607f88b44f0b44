"""PoliteHttpClient against a real HTTP server on 127.0.0.1: spacing, flow control, retries, limits.

Timing tests use the real clock with short intervals; a fake clock stands in wherever the real
waits (30 s defaults, doubling backoff) would make the file slow, and records every sleep.
"""

from __future__ import annotations

import random
import socket
import threading
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from papercast.clock import SystemClock
from papercast.domain.errors import SourceError
from papercast.sources.http import DEFAULT_RETRY_AFTER, MAX_FLOW_CONTROL_WAITS, HttpPolicy, PoliteHttpClient
from support.replay_server import ReplayServer, replay_server_fixture  # noqa: F401 - the fixture

# Arrival times are taken on the server. A request on a new connection is stamped after the
# server accepted it and started a thread; one on a kept-alive connection is not, so on a busy
# machine the gap seen can be a little shorter than the one the client kept. Without any
# spacing the gaps would be about a millisecond, so this margin still proves the waits.
TOLERANCE = 0.05


class FakeClock:
    """Monotonic time that only moves when the client sleeps; every sleep is recorded."""

    def __init__(self) -> None:
        self.elapsed = 0.0
        self.sleeps: list[float] = []
        self._start = datetime(2026, 6, 12, 12, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self._start + timedelta(seconds=self.elapsed)

    def monotonic(self) -> float:
        return 1000.0 + self.elapsed

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.elapsed += max(0.0, seconds)


class FullJitter(random.Random):
    """Jitter factor 1.0: every backoff is the nominal delay (0.5 + 1.0 / 2)."""

    def random(self) -> float:
        return 1.0


def make_client(clock: object | None = None, rng: random.Random | None = None,
                **policy: object) -> PoliteHttpClient:
    settings = {"request_interval": 0.0, "max_attempts": 3, "backoff_initial": 0.1, "timeout": 5.0,
                "user_agent": "papercast-test/1.0 (mailto:test@example.org)", **policy}
    return PoliteHttpClient(HttpPolicy(**settings), clock or SystemClock(), rng=rng)  # type: ignore[arg-type]


@pytest.fixture
def clients() -> list[PoliteHttpClient]:
    """Clients made by a test, closed afterwards."""
    made: list[PoliteHttpClient] = []
    yield made
    for client in made:
        client.close()


def test_replay_server_sees_overlapping_requests(replay_server: ReplayServer) -> None:
    """The instrument works: three plain clients at once are seen as three concurrent requests."""
    replay_server.route("/slow", body=b"ok", delay=0.3)
    barrier = threading.Barrier(3)

    def fetch() -> None:
        barrier.wait()
        httpx.get(replay_server.url_for("/slow"), timeout=5)

    threads = [threading.Thread(target=fetch) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert replay_server.max_concurrency == 3


def test_request_starts_are_spaced_by_the_interval(replay_server: ReplayServer, clients: list) -> None:
    replay_server.route("/oai", body=b"<ok/>")
    client = make_client(request_interval=0.2)
    clients.append(client)

    bodies = [client.get(replay_server.url_for("/oai"), {"page": str(n)}) for n in range(4)]

    assert bodies == [b"<ok/>"] * 4
    assert [r.params["page"] for r in replay_server.requests] == ["0", "1", "2", "3"]
    gaps = replay_server.gaps()
    assert len(gaps) == 3
    assert all(gap >= 0.2 - TOLERANCE for gap in gaps), gaps
    assert all(r.headers.get("User-Agent") == "papercast-test/1.0 (mailto:test@example.org)"
               for r in replay_server.requests)


def test_retry_after_on_503_is_waited_for_and_is_not_a_failure(replay_server: ReplayServer,
                                                               clients: list) -> None:
    replay_server.route("/oai", status=503, headers={"Retry-After": "1"}, body=b"busy", times=1)
    replay_server.route("/oai", body=b"<page/>")
    # One attempt allowed: had the 503 counted as a failure, the client would have given up.
    client = make_client(max_attempts=1)
    clients.append(client)

    assert client.get(replay_server.url_for("/oai"), {"verb": "ListRecords"}) == b"<page/>"

    assert len(replay_server.requests) == 2
    assert replay_server.requests[1].params == {"verb": "ListRecords"}
    assert replay_server.gaps()[0] >= 1.0 - TOLERANCE


def test_429_with_an_http_date_waits_until_that_moment(replay_server: ReplayServer, clients: list) -> None:
    clock = FakeClock()
    when = format_datetime(clock.now() + timedelta(seconds=7), usegmt=True)
    replay_server.route("/api", status=429, headers={"Retry-After": when}, times=1)
    replay_server.route("/api", body=b"ok")
    client = make_client(clock, max_attempts=1)
    clients.append(client)

    assert client.get(replay_server.url_for("/api")) == b"ok"
    assert clock.sleeps == [pytest.approx(7.0)]


def test_503_without_retry_after_waits_the_default(replay_server: ReplayServer, clients: list) -> None:
    clock = FakeClock()
    replay_server.route("/oai", status=503, times=1)
    replay_server.route("/oai", body=b"ok")
    client = make_client(clock, max_attempts=1)
    clients.append(client)

    assert client.get(replay_server.url_for("/oai")) == b"ok"
    assert clock.sleeps == [DEFAULT_RETRY_AFTER]


@pytest.mark.parametrize("value", ["Sun Nov  6 08:49:37 1994", "Sun, 06 Nov 1994 08:49:37 -0000"])
def test_retry_after_in_the_asctime_format_is_honoured(replay_server: ReplayServer, clients: list,
                                                       value: str) -> None:
    clock = FakeClock()
    replay_server.route("/oai", status=503, headers={"Retry-After": value}, times=1)
    replay_server.route("/oai", body=b"ok")
    client = make_client(clock, max_attempts=1)
    clients.append(client)

    assert client.get(replay_server.url_for("/oai")) == b"ok"
    assert clock.sleeps == [0.0]  # a date in the past: no wait


def test_a_server_that_never_stops_sending_503_is_given_up_on(replay_server: ReplayServer,
                                                             clients: list) -> None:
    clock = FakeClock()
    replay_server.route("/oai", status=503, headers={"Retry-After": "5"})
    client = make_client(clock, max_attempts=1)
    clients.append(client)

    with pytest.raises(SourceError) as caught:
        client.get(replay_server.url_for("/oai"))

    assert caught.value.code == "http-503"
    assert len(replay_server.requests) == MAX_FLOW_CONTROL_WAITS + 1
    assert clock.sleeps == [5.0] * MAX_FLOW_CONTROL_WAITS


def test_500_is_retried_with_backoff_then_given_up(replay_server: ReplayServer, clients: list) -> None:
    replay_server.route("/oai", status=500, body=b"Internal Server Error")
    client = make_client(max_attempts=3, backoff_initial=0.2, rng=FullJitter())
    clients.append(client)
    url = replay_server.url_for("/oai")

    with pytest.raises(SourceError) as caught:
        client.get(url, {"verb": "ListRecords"})

    assert caught.value.code == "http-failed"
    assert url in str(caught.value)
    assert "3 attempts" in str(caught.value) and "HTTP 500" in str(caught.value)
    assert len(replay_server.requests) == 3
    first, second = replay_server.gaps()
    assert first >= 0.2 - TOLERANCE  # 0.2 * 2**0
    assert second >= 0.4 - TOLERANCE  # 0.2 * 2**1


def test_backoff_doubles_with_jitter_up_to_the_cap(replay_server: ReplayServer, clients: list) -> None:
    clock = FakeClock()
    replay_server.route("/oai", status=502)
    client = make_client(clock, random.Random(20260612), max_attempts=8, backoff_initial=3.0,
                         backoff_max=20.0)
    clients.append(client)

    with pytest.raises(SourceError):
        client.get(replay_server.url_for("/oai"))

    assert len(replay_server.requests) == 8
    nominal = [3.0, 6.0, 12.0, 20.0, 20.0, 20.0, 20.0]
    assert len(clock.sleeps) == len(nominal)
    for slept, full in zip(clock.sleeps, nominal, strict=True):
        assert 0.5 * full <= slept <= full


def test_a_failure_below_max_attempts_recovers(replay_server: ReplayServer, clients: list) -> None:
    clock = FakeClock()
    replay_server.route("/oai", status=500, times=2)
    replay_server.route("/oai", body=b"ok")
    client = make_client(clock, max_attempts=3, backoff_initial=3.0)
    clients.append(client)

    assert client.get(replay_server.url_for("/oai")) == b"ok"
    assert len(replay_server.requests) == 3
    assert len(clock.sleeps) == 2


@pytest.mark.parametrize("failure", [{"drop": True}, {"truncate_at": 10}], ids=["no-answer", "cut-body"])
def test_a_broken_connection_is_retried(replay_server: ReplayServer, clients: list,
                                        failure: dict[str, object]) -> None:
    clock = FakeClock()
    replay_server.route("/oai", body=b"<OAI-PMH>" + b" " * 100 + b"</OAI-PMH>", times=1, **failure)
    replay_server.route("/oai", body=b"<whole/>")
    client = make_client(clock, max_attempts=2, backoff_initial=3.0)
    clients.append(client)

    assert client.get(replay_server.url_for("/oai")) == b"<whole/>"
    assert len(replay_server.requests) == 2
    assert len(clock.sleeps) == 1 and 1.5 <= clock.sleeps[0] <= 3.0


def test_connection_refused_is_retried_then_named(clients: list) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    clock = FakeClock()
    client = make_client(clock, max_attempts=2)
    clients.append(client)
    url = f"http://127.0.0.1:{port}/oai"

    with pytest.raises(SourceError) as caught:
        client.get(url)

    assert caught.value.code == "http-failed"
    assert url in str(caught.value) and "ConnectError" in str(caught.value)
    assert len(clock.sleeps) == 1


def test_404_fails_at_once_with_the_status(replay_server: ReplayServer, clients: list) -> None:
    replay_server.route("/oai", status=404, body=b"Not Found: no such endpoint")
    client = make_client(max_attempts=5)
    clients.append(client)
    url = replay_server.url_for("/oai")

    with pytest.raises(SourceError) as caught:
        client.get(url)

    assert caught.value.code == "http-404"
    assert "HTTP 404" in str(caught.value) and url in str(caught.value)
    assert "no such endpoint" in str(caught.value)
    assert caught.value.body == b"Not Found: no such endpoint"
    assert len(replay_server.requests) == 1


def test_a_response_over_the_size_cap_is_refused(replay_server: ReplayServer, clients: list) -> None:
    replay_server.route("/exact", body=b"x" * 1000)
    replay_server.route("/big", body=b"x" * 1001)
    client = make_client(max_response_bytes=1000, max_attempts=5)
    clients.append(client)

    assert client.get(replay_server.url_for("/exact")) == b"x" * 1000
    with pytest.raises(SourceError) as caught:
        client.get(replay_server.url_for("/big"))

    assert caught.value.code == "too-large"
    assert replay_server.url_for("/big") in str(caught.value)
    assert len(replay_server.requests_to("/big")) == 1  # not retried


def test_threads_sharing_a_client_never_overlap_and_stay_spaced(replay_server: ReplayServer,
                                                                clients: list) -> None:
    replay_server.route("/oai", body=b"ok", delay=0.05)
    client = make_client(request_interval=0.25)
    clients.append(client)
    barrier = threading.Barrier(3)
    results: list[bytes] = []
    errors: list[BaseException] = []

    def worker(name: str) -> None:
        barrier.wait()
        try:
            for n in range(2):
                results.append(client.get(replay_server.url_for("/oai"), {"who": name, "n": str(n)}))
        except BaseException as error:  # noqa: BLE001 - reported by the test thread
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(f"t{i}",)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)

    assert not errors
    assert results == [b"ok"] * 6
    assert len(replay_server.requests) == 6
    assert replay_server.max_concurrency == 1
    ordered = sorted(replay_server.requests, key=lambda r: r.started)
    for earlier, later in zip(ordered, ordered[1:], strict=False):
        assert later.started >= earlier.finished - TOLERANCE  # one at a time
        assert later.started - earlier.started >= 0.25 - TOLERANCE  # spaced across threads too
