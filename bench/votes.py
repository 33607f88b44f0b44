"""Votes: how many a second 16 concurrent clients get through, how long one waits while an ingest
writes the same SQLite database, and how fast the trending page is at 100,000 papers and
1,000,000 votes. Every figure is measured through HTTP against `papercast serve`.

    python bench/votes.py [--parts throughput,ingest,trending] [--engines sqlite,postgresql]
                          [--clients 16] [--seconds 10] [--ingest-count 100000]
                          [--papers 100000] [--votes 1000000]

- throughput: per engine, a fresh database of 2,000 papers and one reader (with a write-scoped
  API token) per client; each client upvotes and takes back upvotes on random papers, back to
  back. Rate limits are off (they would refuse a flood by design).
- ingest: SQLite only (PostgreSQL writers do not share one lock): `papercast ingest` loads
  `--ingest-count` synthetic papers while four clients vote; the vote request's latency while the
  ingest runs, once with ingest as it is (sub-batches of about 75 ms of write lock) and once
  writing whole 5,000-record batches in one transaction each (what it did before).
- trending: `--papers` synthetic papers and `--votes` votes by 10,000 readers (skewed towards a
  few papers, as votes are), inserted in bulk and counted; then GET /, /?page=5, /?tab=week and
  /api/v1/trending, one request after another, with the response cache off (every request rendered).

Prints one JSON object with the machine. PostgreSQL: PAPERCAST_TEST_POSTGRES_URL, or the
private cluster of scripts/test-postgres, as bench/ingest.py does.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

import ingest as ingest_bench  # noqa: E402  (bench/ is not a package)
import synthetic  # noqa: E402
import web as web_bench  # noqa: E402

BIN = Path(sys.executable).parent
NO_LIMITS = {"votes_per_account_per_minute": "0", "votes_per_account_per_day": "0",
             "votes_per_address_per_minute": "0", "votes_per_address_per_day": "0"}
THROUGHPUT_PAPERS = 2_000
READERS = 10_000
TRENDING_PATHS = ("/", "/?page=5", "/?tab=week", "/api/v1/trending")


# --- setting up ------------------------------------------------------------------------------------


def app_for(database_url: str, data_dir: Path) -> Any:
    from papercast.bootstrap import build
    from papercast.settings import Settings

    settings = Settings.load(env={}, data_dir=data_dir, database_url=database_url, **web_bench.BENCH_SETTINGS)
    return build(settings)


def ingest_synthetic(app: Any, count: int, seed: int, workdir: Path) -> dict[str, Any]:
    from papercast.sources.detect import open_source

    path = workdir / f"synthetic-{count}-{seed}.jsonl"
    if not path.exists():
        synthetic.write(synthetic.generate(count, seed), path)
    started = time.perf_counter()
    report = app.ingest.ingest_source(open_source(path, "snapshot"))
    return {"papers": report.new, "ingest_seconds": round(time.perf_counter() - started, 1)}


def write_tokens(app: Any, count: int) -> list[str]:
    """`count` readers, each with an API token that may write."""
    from papercast.domain.accounts import Scope

    accounts = app.accounts()
    tokens = []
    for number in range(count):
        user = accounts.add_user(f"bench{number}@example.org")
        tokens.append(accounts.create_api_token(user.id, "bench", Scope.WRITE)[0])
    return tokens


@contextmanager
def server(database_url: str, data_dir: Path, *, workers: int = 2, cache_entries: int | None = None,
           settings: dict[str, str] | None = None) -> Iterator[str]:
    process, url = web_bench.start_server(database_url, data_dir, workers, cache_entries,
                                          {**NO_LIMITS, **(settings or {})})
    try:
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


async def vote_loop(url: str, tokens: list[str], paper_ids: list[str], until: float,
                    latencies: list[float], errors: dict[str, int], seed: int) -> None:
    """One client per token: upvote a random paper, or take a random upvote back, back to back."""
    async def client_loop(token: str, rng: random.Random) -> None:
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60) as client:
            while (started := time.perf_counter()) < until:
                method = "POST" if rng.random() < 0.6 else "DELETE"
                try:
                    response = await client.request(method, f"/api/v1/papers/{rng.choice(paper_ids)}/vote")
                    status = str(response.status_code)
                except httpx.HTTPError as error:
                    status = type(error).__name__
                latencies.append(time.perf_counter() - started)
                if status != "200":
                    errors[status] = errors.get(status, 0) + 1

    await asyncio.gather(*(client_loop(token, random.Random(seed + n)) for n, token in enumerate(tokens)))


def run_votes(url: str, tokens: list[str], paper_ids: list[str], seconds: float, seed: int) -> dict[str, Any]:
    latencies: list[float] = []
    errors: dict[str, int] = {}
    asyncio.run(vote_loop(url, tokens, paper_ids, time.perf_counter() + seconds, latencies, errors, seed))
    return web_bench.summarize(latencies, errors, seconds)


# --- the three measurements ------------------------------------------------------------------------


def throughput(engine: str, postgres: Any, workdir: Path, clients: int, seconds: float) -> dict[str, Any]:
    with ingest_bench.fresh_database(engine, postgres, workdir, "throughput") as url:
        data_dir = workdir / f"throughput-{engine}"
        data_dir.mkdir(exist_ok=True)
        app = app_for(url, data_dir)
        try:
            catalog = ingest_synthetic(app, THROUGHPUT_PAPERS, 7, workdir)
            tokens = write_tokens(app, clients)
            paper_ids = list(app.papers.iter_ids())
        finally:
            app.close()
        with server(url, data_dir) as base:
            run_votes(base, tokens, paper_ids, 2, seed=1)  # warm-up: connections, caches
            measured = run_votes(base, tokens, paper_ids, seconds, seed=2)
        return {"engine": engine, "clients": clients, "uvicorn_workers": 2, "catalog": catalog,
                "votes_per_second": measured["requests_per_second"], "latency": measured}


def during_ingest(workdir: Path, count: int, whole_batches: bool) -> dict[str, Any]:
    """Four clients vote on 200 papers while `count` more are ingested into the same SQLite file."""
    from papercast.domain.papers import PaperRecord

    label = "whole" if whole_batches else "sub"
    data_dir = workdir / f"ingest-{label}"
    data_dir.mkdir(exist_ok=True)
    url = f"sqlite:///{data_dir / 'papercast.db'}"
    app = app_for(url, data_dir)
    try:
        app.ingest.ingest([PaperRecord(paper_id=f"bench-{n:05d}", title=f"Voted paper {n}", source="bench")
                           for n in range(200)])
        tokens = write_tokens(app, 4)
    finally:
        app.close()
    records = workdir / f"synthetic-{count}-1.jsonl"
    if not records.exists():
        synthetic.write(synthetic.generate(count, 1), records)
    with server(url, data_dir, workers=1) as base:
        run_votes(base, tokens, [f"bench-{n:05d}" for n in range(200)], 1, seed=3)  # warm-up
        command = [sys.executable, __file__, "--child-ingest", str(records), "--database-url", url,
                   "--data-dir", str(data_dir)] + (["--whole-batches"] if whole_batches else [])
        child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        latencies: list[float] = []
        errors: dict[str, int] = {}
        started = time.perf_counter()

        async def vote_while_ingesting() -> None:
            voting = asyncio.ensure_future(vote_loop(base, tokens, [f"bench-{n:05d}" for n in range(200)],
                                                     float("inf"), latencies, errors, 4))
            while child.poll() is None:
                await asyncio.sleep(0.1)
            voting.cancel()
            await asyncio.gather(voting, return_exceptions=True)

        asyncio.run(vote_while_ingesting())
        seconds = time.perf_counter() - started
        ingest = json.loads(child.stdout.read() if child.stdout else "{}")
    from papercast.services.ingest import WRITE_BUDGET_SECONDS

    sub_batches = f"sub-batches of about {WRITE_BUDGET_SECONDS * 1000:g} ms of write lock"
    return {"write": "whole 5,000-record batches" if whole_batches else sub_batches,
            "ingest": ingest, "vote_latency": web_bench.summarize(latencies, errors, seconds)}


def child_ingest(path: Path, database_url: str, data_dir: Path, whole_batches: bool) -> None:
    """What `papercast ingest --format snapshot PATH` runs; whole batches: one transaction each."""
    from papercast.cli.ingest import ingest_files
    from papercast.services.ingest import IngestService

    app = app_for(database_url, data_dir)
    service = app.ingest
    if whole_batches:
        service = IngestService(app.units, batch_size=app.settings.ingest_batch_size, read_ahead=None)
    started = time.perf_counter()
    report, errors = ingest_files(service, [path], "snapshot", show_progress=False)
    seconds = time.perf_counter() - started
    app.close()
    print(json.dumps({"papers": report.new, "seconds": round(seconds, 1),
                      "papers_per_second": round(report.new / seconds), "errors": errors}))


def trending(engine: str, postgres: Any, workdir: Path, papers: int, votes: int,
             seconds: float) -> dict[str, Any]:
    with ingest_bench.fresh_database(engine, postgres, workdir, "trending") as url:
        data_dir = workdir / f"trending-{engine}"
        data_dir.mkdir(exist_ok=True)
        app = app_for(url, data_dir)
        try:
            catalog = ingest_synthetic(app, papers, 1, workdir)
            started = time.perf_counter()
            inserted = insert_votes(app, votes)
            catalog.update(votes=inserted, vote_load_seconds=round(time.perf_counter() - started, 1))
        finally:
            app.close()
        with server(url, data_dir, cache_entries=0) as base:
            pages = {path: asyncio.run(web_bench.drive(base, [path], 1, seconds, 2.0))
                     for path in TRENDING_PATHS}
        return {"engine": engine, "catalog": catalog, "response_cache": "off",
                "clients": "one, request after request (service time, no queueing)", "pages": pages}


def insert_votes(app: Any, count: int) -> int:
    """`count` counted upvotes by READERS readers, most on a few papers (a Zipf-like skew over the
    catalog), written in bulk, then every paper's popularity counted again from them."""
    import numpy as np
    from sqlalchemy import select

    from papercast.storage.papers import bulk_insert
    from papercast.storage.popularity import PopularityRecords
    from papercast.storage.tables import papers, users, votes

    now = datetime.now(UTC)
    with app.units.begin() as transaction:
        transaction.connection.execute(users.insert(), [
            {"email": f"voter{n}@example.org", "state": "active", "is_admin": False, "created_at": now}
            for n in range(READERS)])
    with app.engine.connect() as connection:
        paper_ids = list(connection.execute(select(papers.c.id).order_by(papers.c.id)).scalars())
        user_ids = list(connection.execute(select(users.c.id).where(users.c.email.like("voter%"))).scalars())
    rng = np.random.default_rng(1)
    weights = 1.0 / np.arange(1, len(paper_ids) + 1) ** 0.8
    rng.shuffle(weights)
    cumulative = np.cumsum(weights) / weights.sum()
    per_reader = count // len(user_ids)
    rows: list[tuple[Any, ...]] = []
    for user_id in user_ids:
        picks = np.unique(np.searchsorted(cumulative, rng.random(per_reader * 2)))[:per_reader]
        rows.extend((user_id, paper_ids[int(pick)], True, now) for pick in picks)
    for start in range(0, len(rows), 50_000):
        with app.units.begin() as transaction:
            bulk_insert(transaction.connection, votes, rows[start:start + 50_000])
    for start in range(0, len(paper_ids), 5_000):
        with app.units.begin() as transaction:
            PopularityRecords(transaction.connection, app.trending.parameters).recount(
                paper_ids[start:start + 5_000])
    return len(rows)


# --- main ------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Measure votes and the trending page.")
    parser.add_argument("--parts", default="throughput,ingest,trending")
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--ingest-count", type=int, default=100_000)
    parser.add_argument("--papers", type=int, default=100_000)
    parser.add_argument("--votes", type=int, default=1_000_000)
    parser.add_argument("--child-ingest", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--database-url", help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--whole-batches", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child_ingest:
        child_ingest(args.child_ingest, args.database_url, args.data_dir, args.whole_batches)
        return 0
    parts, engines = set(args.parts.split(",")), args.engines.split(",")
    postgres = ingest_bench.Postgres(os.environ.get("PAPERCAST_TEST_POSTGRES_URL")) \
        if "postgresql" in engines else None
    output: dict[str, Any] = {"benchmark": "votes", "machine": ingest_bench.machine(postgres)}
    try:
        with tempfile.TemporaryDirectory(prefix="papercast-bench-votes-") as temp:
            workdir = Path(temp)
            if "throughput" in parts:
                output["throughput"] = [throughput(engine, postgres, workdir, args.clients, args.seconds)
                                        for engine in engines]
            if "ingest" in parts:
                output["vote_during_ingest"] = [during_ingest(workdir, args.ingest_count, whole)
                                                for whole in (False, True)]
            if "trending" in parts:
                output["trending_page"] = [trending(engine, postgres, workdir, args.papers, args.votes,
                                                    args.seconds) for engine in engines]
    finally:
        if postgres is not None:
            postgres.close()
    output["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(output, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
