"""Digests: how many a second are planned and rendered for `--subscribers` subscribers with topics,
and how many messages a second reach a local SMTP sink through `--connections` senders, while
`papercast serve` answers the home page. Target (issue #12): 100,000 digests rendered and handed
to the sink within 10 minutes on this machine, with the web serving at the same time.

    python bench/digest.py [--subscribers 100000] [--connections 4] [--engine sqlite|postgresql]
                           [--papers 3000] [--topics 400]

- set-up (not timed): `--papers` papers, a tenth announced on the digest's day, indexed; as many
  subscribers, confirmed, each with one to three of `--topics` distinct topics (words and `cat:`),
  all due at 08:00 UTC.
- plan: `papercast digests plan --at 08:00` in one process: digests planned, rendered and queued
  per second (one unit of work per 25 subscribers, as the worker does).
- send: an SMTP sink (aiosmtpd, another process, accepts and discards) and `--connections`
  `papercast digests send` processes at once, one SMTP connection each: messages per second.
- web: while both run, one client asks `papercast serve` in turn for the home page, a search
  (a different query each time, so no answer comes from a cache) and a paper's page, pausing 50
  ms between answers: how many answers and their latency (median, 95th percentile).

The machine's load average is printed as the run began and as it ended.

Prints one JSON object with the machine. PostgreSQL: PAPERCAST_TEST_POSTGRES_URL (a schema of its own).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import random
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
DAY = date(2026, 12, 3)
AT = "2026-12-03T08:00:00Z"
WORDS = ("diffusion", "transformer", "graph", "quantum", "protein", "language", "reinforcement", "causal",
         "sparse", "kernel", "bayesian", "federated", "contrastive", "robotics", "vision", "speech",
         "molecular", "topology", "lattice", "entropy", "optimal", "transport", "neural", "operator",
         "manifold", "spectral", "tensor", "attention", "retrieval", "privacy")
CATEGORIES = ("cs.LG", "cs.CV", "cs.CL", "cs.AI", "stat.ML", "quant-ph", "math.OC", "q-bio.BM",
              "physics.comp-ph", "cs.RO", "eess.SP", "math.PR", "hep-th", "cond-mat.stat-mech", "astro-ph.CO")
SINK = """
import asyncio, sys
from aiosmtpd.controller import Controller
class Sink:
    async def handle_DATA(self, server, session, envelope):
        return "250 2.0.0 Ok"
controller = Controller(Sink(), hostname="127.0.0.1", port=int(sys.argv[1]))
controller.start()
print("ready", flush=True)
sys.stdin.read()
controller.stop()
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def environment(database_url: str, data_dir: Path, **settings: str) -> dict[str, str]:
    base = {key: value for key, value in os.environ.items() if not key.startswith("PAPERCAST_")}
    values = {"database_url": database_url, "data_dir": str(data_dir), "embedding_model": "hashing",
              "base_url": "https://papers.example.org", "mail_from": "Papercast <papers@example.org>",
              "log_level": "WARNING", "web_rate_limit_per_minute": "0", **settings}
    return {**base, **{f"PAPERCAST_{name.upper()}": value for name, value in values.items()}}


def topics(count: int, rng: random.Random) -> list[str]:
    found = [f"cat:{category}" for category in CATEGORIES]
    while len(found) < count:
        topic = " ".join(rng.sample(WORDS, rng.choice((1, 2))))
        if topic not in found:
            found.append(topic)
    return found[:count]


def prepare(env: dict[str, str], papers: int, subscribers: int, topic_count: int) -> dict[str, Any]:
    """The catalog, its index and the subscribers (not timed as part of the figures)."""
    from papercast.bootstrap import build
    from papercast.clock import ShiftedClock
    from papercast.domain.papers import Author, PaperRecord
    from papercast.domain.subscriber_imports import ImportedSubscriber
    from papercast.domain.subscriptions import Frequency, Preferences
    from papercast.settings import Settings

    rng = random.Random(12)
    started = time.perf_counter()
    papercast = build(Settings.load(env=env), ShiftedClock(datetime(2026, 12, 3, 7, 0, tzinfo=UTC)))
    try:
        records = []
        for number in range(1, papers + 1):
            words = rng.sample(WORDS, 6)
            records.append(PaperRecord(
                paper_id=f"2612.{number:05d}", title=" ".join(words[:4]).capitalize(), source="bench",
                abstract=" ".join(rng.choices(WORDS, k=120)) + " with $\\alpha^2$ and $O(n\\log n)$.",
                authors=tuple(Author(f"Author {rng.randrange(5000)}") for _ in range(rng.randint(1, 8))),
                categories=(rng.choice(CATEGORIES),),
                announced_on=DAY if number % 10 == 0 else date(2026, rng.randint(1, 11), rng.randint(1, 28))))
        papercast.ingest.ingest(records, "bench")
        papercast.index_follower().catch_up()
        pool = topics(topic_count, rng)
        service = papercast.subscriptions()
        consented = datetime(2026, 1, 1, tzinfo=UTC)
        rows = [ImportedSubscriber(f"row {n}", f"reader{n:06d}@example.org", "",
                                   Preferences(tuple(rng.sample(pool, rng.randint(1, 3))), Frequency.DAILY, 8,
                                               "UTC"), consented)
                for n in range(subscribers)]
        report = service.import_subscribers(rows)
    finally:
        papercast.close()
    return {"papers": papers, "announced_that_day": papers // 10, "subscribers": report.added,
            "distinct_topics": topic_count, "seconds": round(time.perf_counter() - started, 1)}


class WebProbe:
    """Asks for pages back to back while the digests run; keeps each answer's latency."""

    def __init__(self, url: str, papers: int) -> None:
        self._base = url.rstrip("/")
        self._papers = papers
        self.latencies: list[float] = []
        self.errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> WebProbe:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        rng = random.Random(7)
        with httpx.Client(timeout=30) as client:
            for turn in itertools.count():
                if self._stop.is_set():
                    break
                started = time.perf_counter()
                try:
                    ok = client.get(self._base + self._page(turn, rng)).status_code == 200
                except httpx.HTTPError:
                    ok = False
                if ok:
                    self.latencies.append(time.perf_counter() - started)
                    time.sleep(0.05)  # a reader's pace, not a flood that takes the digests' CPU
                else:
                    self.errors += 1
                    time.sleep(0.2)

    def _page(self, turn: int, rng: random.Random) -> str:
        kind = turn % 3
        if kind == 0:
            return "/"
        if kind == 1:
            return "/search?" + urlencode({"q": " ".join(rng.sample(WORDS, 2)), "page": rng.randint(1, 3)})
        return f"/papers/2612.{rng.randint(1, self._papers):05d}"

    def summary(self) -> dict[str, Any]:
        if not self.latencies:
            return {"answers": 0, "errors": self.errors}
        ordered = sorted(self.latencies)
        return {"answers": len(ordered), "errors": self.errors,
                "median_ms": round(statistics.median(ordered) * 1000, 1),
                "p95_ms": round(ordered[int(len(ordered) * 0.95) - 1] * 1000, 1)}


def start_serve(env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    serve = subprocess.Popen([str(BIN / "papercast"), "serve", "--port", str(port), "--no-worker"], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=5).status_code == 200:
                return serve, url
        except httpx.HTTPError:
            time.sleep(0.5)
    serve.kill()
    raise RuntimeError("papercast serve did not answer within 120 s")


def run_plan(env: dict[str, str]) -> dict[str, Any]:
    started = time.perf_counter()
    done = subprocess.run([str(BIN / "papercast"), "digests", "plan", "--at", AT, "--json"], env=env,
                          capture_output=True, text=True, check=True)
    seconds = time.perf_counter() - started
    report = json.loads(done.stdout)
    return {"queued": report["queued"], "skipped_empty": report["skipped_empty"],
            "seconds": round(seconds, 1),
            "digests_per_second": round((report["queued"] + report["skipped_empty"]) / seconds, 1)}


def run_send(env: dict[str, str], connections: int) -> dict[str, Any]:
    port = free_port()
    sink = subprocess.Popen([sys.executable, "-c", SINK, str(port)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE)
    assert sink.stdout is not None and sink.stdout.readline().strip() == b"ready"
    send_env = {**env, "PAPERCAST_SMTP_HOST": "127.0.0.1", "PAPERCAST_SMTP_PORT": str(port),
                "PAPERCAST_SMTP_SECURITY": "none"}
    started = time.perf_counter()
    senders = [subprocess.Popen([str(BIN / "papercast"), "digests", "send", "--at", "2026-12-03T08:30:00Z",
                                 "--json"], env=send_env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                text=True) for _ in range(connections)]
    reports = [json.loads(sender.communicate()[0]) for sender in senders]
    seconds = time.perf_counter() - started
    assert sink.stdin is not None
    sink.stdin.close()
    sink.wait(timeout=30)
    sent = sum(report["sent"] for report in reports)
    return {"connections": connections, "sent": sent, "failed": sum(report["failed"] for report in reports),
            "seconds": round(seconds, 1), "messages_per_second": round(sent / seconds, 1)}


def machine(engine: str) -> dict[str, Any]:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return {"cpu": cpu, "cores": os.cpu_count(), "load_average": [round(x, 2) for x in os.getloadavg()],
            "python": platform.python_version(), "engine": engine, "sqlite": sqlite3.sqlite_version}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--papers", type=int, default=3_000)
    parser.add_argument("--topics", type=int, default=400)
    parser.add_argument("--engine", choices=("sqlite", "postgresql"), default="sqlite")
    args = parser.parse_args()
    output: dict[str, Any] = {"machine": machine(args.engine)}
    with tempfile.TemporaryDirectory(prefix="papercast-digest-bench-") as temp:
        data_dir = Path(temp)
        if args.engine == "postgresql":
            url = os.environ.get("PAPERCAST_TEST_POSTGRES_URL")
            if not url:
                raise SystemExit("set PAPERCAST_TEST_POSTGRES_URL for --engine postgresql")
            database_url = _fresh_schema(url)
        else:
            database_url = f"sqlite:///{data_dir / 'papercast.db'}"
        env = environment(database_url, data_dir)
        output["setup"] = prepare(env, args.papers, args.subscribers, args.topics)
        serve, url = start_serve(env)
        try:
            with WebProbe(url, args.papers) as probe:
                output["plan"] = run_plan(env)
                output["send"] = run_send(env, args.connections)
            output["web_during_digests"] = probe.summary()
        finally:
            serve.terminate()
            serve.wait(timeout=60)
    output["plan_and_send_seconds"] = round(output["plan"]["seconds"] + output["send"]["seconds"], 1)
    output["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(output, indent=2))


def _fresh_schema(url: str) -> str:
    """A schema of its own on the test cluster, as the tests' `database_url` fixture makes."""
    import sqlalchemy

    name = f"digest_bench_{os.getpid()}"
    engine = sqlalchemy.create_engine(url)
    with engine.begin() as connection:
        connection.execute(sqlalchemy.text(f'CREATE SCHEMA "{name}"'))
    engine.dispose()
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}options=-csearch_path%3D{name}"


if __name__ == "__main__":
    main()
