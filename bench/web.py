"""Web throughput and latency: the home page, a search page and paper pages over a large catalog.

Builds (or reuses) a catalog of `--count` synthetic papers (bench/synthetic.py), starts
`papercast serve` with `--workers` uvicorn processes on 127.0.0.1, and drives each page with
`--concurrency` connections from an asyncio httpx client for `--seconds`. Paper pages rotate
over 2,000 random ids and search pages over a few common words, so no single row stays hot.
Prints one JSON object: requests/second and p50/p90/p99/max latency per page, plus the machine.

    python bench/web.py [--count 100000] [--concurrency 32] [--workers 2] [--seconds 20]
                        [--engine sqlite|postgresql] [--data-dir DIR (kept; reused when filled)]
                        [--database-url URL] [--response-cache-entries N] [--client wrk|httpx]

The load generator shares the machine with the server: `wrk` (apt-get install wrk) when it is
installed, which takes little CPU, else an asyncio httpx client, which on a 2-core machine takes
most of a core (the figures are then a floor). PostgreSQL: PAPERCAST_TEST_POSTGRES_URL or
--database-url.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from contextlib import suppress
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

import synthetic  # noqa: E402  (bench/ is not a package)

BIN = Path(sys.executable).parent
SEARCH_WORDS = ("learning", "model", "quantum", "network", "theory", "data", "field", "energy")
PAPER_SAMPLE = 2_000
# The hashing encoder loads no model and embeds 100k papers in seconds: search pages rank by
# keywords and hashing vectors, paper pages show the similar papers the worker precomputed from them
# (as it does for MiniLM's vectors, which take hours to compute on 2 CPUs).
BENCH_SETTINGS = {"embedding_model": "hashing"}
LOAD_GENERATORS = {"wrk": "wrk -t1 (Debian's wrk 4.1) on the same machine",
                   "httpx": "httpx.AsyncClient in one process on the same machine"}


def prepare_catalog(database_url: str, data_dir: Path, count: int, seed: int) -> dict[str, Any]:
    """Generate and ingest `count` papers unless the catalog already holds them."""
    from papercast.bootstrap import build
    from papercast.settings import Settings
    from papercast.sources.detect import open_source

    app = build(Settings.load(env={}, data_dir=data_dir, database_url=database_url, **BENCH_SETTINGS))
    try:
        result: dict[str, Any] = {"ingested": False}
        if app.catalog.stats().papers < count:
            records = data_dir / f"synthetic-{count}-{seed}.jsonl.gz"
            if not records.exists():
                synthetic.write(synthetic.generate(count, seed), records)
            started = time.perf_counter()
            source = open_source(records, "snapshot")
            report = app.ingest.ingest_source(source)
            seconds = round(time.perf_counter() - started, 1)
            result.update(ingested=True, new=report.new, ingest_seconds=seconds)
        started = time.perf_counter()
        embedded = app.embedding_service().catch_up().embedded  # hashing vectors: seconds, not hours
        result.update(embedded=embedded, embed_seconds=round(time.perf_counter() - started, 1))
        started = time.perf_counter()
        follower = app.index_follower()
        followed = follower.catch_up()  # the indexes the search and paper pages use
        result.update(papers=app.catalog.stats().papers, indexed=followed.papers_indexed,
                      vectors_indexed=followed.vectors_indexed,
                      index_seconds=round(time.perf_counter() - started, 1))
        started = time.perf_counter()
        result["similar_computed"] = follower.refresh_neighbours()  # what the worker does in the background
        result["similar_seconds"] = round(time.perf_counter() - started, 1)
        return result
    finally:
        app.close()


def sample_ids(database_url: str, data_dir: Path, seed: int) -> list[str]:
    from papercast.bootstrap import build
    from papercast.settings import Settings

    app = build(Settings.load(env={}, data_dir=data_dir, database_url=database_url, **BENCH_SETTINGS))
    try:
        ids = list(app.papers.iter_ids())
    finally:
        app.close()
    return random.Random(seed).sample(ids, min(PAPER_SAMPLE, len(ids)))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_server(database_url: str, data_dir: Path, workers: int, cache_entries: int | None,
                 extra_settings: dict[str, str] | None = None) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("PAPERCAST_")},
           "PAPERCAST_DATABASE_URL": database_url, "PAPERCAST_DATA_DIR": str(data_dir),
           "PAPERCAST_WEB_RATE_LIMIT_PER_MINUTE": "0", "PAPERCAST_LOG_LEVEL": "WARNING",
           **{f"PAPERCAST_{name.upper()}": value for name, value in BENCH_SETTINGS.items()},
           **{f"PAPERCAST_{name.upper()}": value for name, value in (extra_settings or {}).items()}}
    if cache_entries is not None:
        env["PAPERCAST_WEB_RESPONSE_CACHE_ENTRIES"] = str(cache_entries)
    log = (data_dir / "server.log").open("wb")
    server = subprocess.Popen([str(BIN / "papercast"), "serve", "--port", str(port), "--no-worker",
                               "--workers", str(workers)], env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"server exited; see {data_dir / 'server.log'}")
        with suppress(httpx.TransportError):
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return server, url
        time.sleep(0.3)
    server.terminate()
    raise SystemExit("server did not answer /healthz within 120 s")


async def drive(url: str, paths: list[str], concurrency: int, seconds: float,
                warmup: float) -> dict[str, Any]:
    """`concurrency` workers request `paths` round-robin for `seconds` after `warmup`."""
    latencies: list[float] = []
    errors: dict[str, int] = {}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:
        started = time.perf_counter()
        measure_from, stop_at = started + warmup, started + warmup + seconds

        async def worker(offset: int) -> None:
            index = offset
            while (now := time.perf_counter()) < stop_at:
                path = paths[index % len(paths)]
                index += concurrency
                try:
                    response = await client.get(path)
                    status = str(response.status_code)
                except httpx.HTTPError as error:
                    status = type(error).__name__
                finished = time.perf_counter()
                if now >= measure_from:
                    latencies.append(finished - now)
                    if status != "200":
                        errors[status] = errors.get(status, 0) + 1

        await asyncio.gather(*(worker(i) for i in range(concurrency)))
    return summarize(latencies, errors, seconds)


WRK_SCRIPT = """
local paths = {%s}
local counter = 0
request = function()
  counter = counter + 1
  return wrk.format("GET", paths[(counter %% #paths) + 1])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRK {"requests": %%d, "duration_us": %%d, "non_2xx_or_3xx": %%d, ' ..
    '"socket_errors": %%d, "p50_us": %%d, "p90_us": %%d, "p99_us": %%d, "max_us": %%d}\\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
"""


def drive_wrk(url: str, paths: list[str], concurrency: int, seconds: float, warmup: float,
              workdir: Path) -> dict[str, Any]:
    """The same measurement with wrk (C, one thread): the load generator takes far less CPU."""
    script = workdir / "paths.lua"
    script.write_text(WRK_SCRIPT % ", ".join(json.dumps(path) for path in paths), encoding="utf-8")
    base = ["wrk", "-t1", f"-c{concurrency}", "-s", str(script), "--timeout", "30s"]
    if warmup > 0:
        subprocess.run([*base, f"-d{max(1, round(warmup))}s", url], capture_output=True, check=True)
    output = subprocess.run([*base, f"-d{max(1, round(seconds))}s", url], capture_output=True, text=True,
                            check=True).stdout
    line = next(line for line in output.splitlines() if line.startswith("WRK "))
    raw = json.loads(line[4:])
    duration = raw["duration_us"] / 1e6
    return {"requests": raw["requests"], "requests_per_second": round(raw["requests"] / duration, 1),
            "p50_ms": raw["p50_us"] / 1000, "p90_ms": raw["p90_us"] / 1000, "p99_ms": raw["p99_us"] / 1000,
            "max_ms": raw["max_us"] / 1000,
            "non_200": {k: raw[k] for k in ("non_2xx_or_3xx", "socket_errors") if raw[k]}}


def summarize(latencies: list[float], errors: dict[str, int], seconds: float) -> dict[str, Any]:
    ordered = sorted(latencies)

    def percentile(share: float) -> float | None:
        if not ordered:
            return None
        return round(ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1000, 1)

    return {"requests": len(ordered), "requests_per_second": round(len(ordered) / seconds, 1),
            "p50_ms": percentile(0.50), "p90_ms": percentile(0.90), "p95_ms": percentile(0.95),
            "p99_ms": percentile(0.99),
            "max_ms": round(ordered[-1] * 1000, 1) if ordered else None, "non_200": errors}


def machine(engine: str) -> dict[str, Any]:
    cpu = "unknown"
    with suppress(OSError), open("/proc/cpuinfo") as cpuinfo:
        cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), cpu)
    ram = None
    with suppress(OSError), open("/proc/meminfo") as meminfo:
        total = next((line for line in meminfo if line.startswith("MemTotal:")), None)
        ram = round(int(total.split()[1]) / 2**20, 1) if total else None
    return {"cpu": cpu, "cores": os.cpu_count(), "ram_gb": ram, "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version, "engine": engine,
            "load_average_before": [round(x, 2) for x in os.getloadavg()]}


def database_url(engine: str, data_dir: Path) -> str:
    if engine == "sqlite":
        return f"sqlite:///{data_dir / 'papercast.db'}"
    url = os.environ.get("PAPERCAST_TEST_POSTGRES_URL")
    if not url:
        raise SystemExit("--engine postgresql needs PAPERCAST_TEST_POSTGRES_URL")
    return url


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Measure papercast's web pages under concurrent load.")
    parser.add_argument("--count", type=int, default=100_000, help="Papers in the catalog (default 100000).")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--engine", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes (default 2).")
    parser.add_argument("--concurrency", type=int, default=32, help="Concurrent connections (default 32).")
    parser.add_argument("--seconds", type=float, default=20.0, help="Measured seconds per page (default 20).")
    parser.add_argument("--warmup", type=float, default=3.0, help="Unmeasured seconds first (default 3).")
    parser.add_argument("--data-dir", type=Path, help="Keep the catalog here (reused when it is full).")
    parser.add_argument("--database-url", help="Use this database (default: by --engine).")
    parser.add_argument("--response-cache-entries", type=int,
                        help="The server's PAPERCAST_WEB_RESPONSE_CACHE_ENTRIES (0: render every request).")
    parser.add_argument("--client", choices=("auto", "wrk", "httpx"), default="auto",
                        help="Load generator: wrk when installed (auto), or the asyncio httpx client.")
    args = parser.parse_args(argv)
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="papercast-bench-web-"))
    data_dir.mkdir(parents=True, exist_ok=True)
    url = args.database_url or database_url(args.engine, data_dir)
    info = machine("postgresql" if url.startswith("postgresql") else "sqlite")
    catalog = prepare_catalog(url, data_dir, args.count, args.seed)
    ids = sample_ids(url, data_dir, args.seed)
    pages = {
        "home": ["/"],
        "paper": [f"/papers/{paper_id}" for paper_id in ids],
        "search": [f"/search?q={word}" for word in SEARCH_WORDS],
        "api_paper": [f"/api/v1/papers/{paper_id}" for paper_id in ids],
    }
    client = args.client if args.client != "auto" else ("wrk" if shutil.which("wrk") else "httpx")
    server, base = start_server(url, data_dir, args.workers, args.response_cache_entries)
    try:
        results = {}
        for name, paths in pages.items():
            if client == "wrk":
                results[name] = drive_wrk(base, paths, args.concurrency, args.seconds, args.warmup, data_dir)
            else:
                results[name] = asyncio.run(drive(base, paths, args.concurrency, args.seconds, args.warmup))
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(json.dumps({"benchmark": "web", "catalog": catalog, "uvicorn_workers": args.workers,
                      "response_cache_entries": args.response_cache_entries,
                      "concurrency": args.concurrency, "seconds_per_page": args.seconds,
                      "load_generator": LOAD_GENERATORS[client],
                      "search_backend": "the search service as `papercast serve` wires it "
                                        "(hashing-encoder vectors: hybrid ranking)",
                      "machine": info, "pages": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
