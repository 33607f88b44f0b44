"""Recommendations: how long one reader's list takes over a large catalog, how long a refit takes,
and how many readers the worker refits in a minute.

    OPENBLAS_NUM_THREADS=1 python bench/recs.py [--papers 100000] [--signals 200] [--requests 50]
                                                [--readers 1000] [--database-url URL]

A fresh database (SQLite in a temporary folder unless `--database-url`) gets `--papers` papers
(ingested as minimal records, announced over the last 30 days) and a synthetic unit vector of 384
dimensions each (MiniLM's size; drawn around 50 topic centres, so models have something to
learn). Then:

- recommend: one reader with `--signals` signals (upvotes and saves of one topic's papers, and a
  tenth "not interested"), refitted once; `--requests` calls of `recommend(limit=20)` over the
  whole catalog (window 0), after one warm-up call that loads the candidate vectors. p50/p95/max.
- reload: one more paper is stored (the vectors' version moves), and the same reader's requests
  go on while the background thread reloads the candidate vectors: how long the reload took and
  p50/max of the requests meanwhile (they answer with the loaded vectors, never wait for it).
- refit: `--readers` readers with 5 to 60 upvotes each (one `signals_changed` per reader, as a
  vote makes), their `refit-recommendations` jobs run by a worker's claim-and-run loop (claim,
  lease, handler thread, completion) one after another in this process; per reader and the time
  10,000 readers would take at that rate. The one-reader refit with `--signals` signals is
  timed on its own too.

Prints one JSON object with the machine and the BLAS threads numpy runs. Set
OPENBLAS_NUM_THREADS=1 as papercast's own processes have it (importing papercast sets it, but
this script loads numpy first): on a shared machine BLAS threads fight each other over small
matrices (a fit took 10x the CPU).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import insert, update
from threadpoolctl import threadpool_info

from papercast.bootstrap import Papercast, build
from papercast.domain.papers import PaperRecord
from papercast.settings import Settings
from papercast.storage.tables import jobs, votes
from papercast.worker.tasks import build_worker

DIMENSION = 384
TOPICS = 50


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--papers", type=int, default=100_000)
    parser.add_argument("--signals", type=int, default=200)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--readers", type=int, default=1000)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        database = {"database_url": args.database_url} if args.database_url else {}
        settings = Settings.load(env={}, data_dir=Path(folder), embedding_model="hashing", **database,
                                 recommendations_window_days=0,
                                 votes_per_account_per_minute=0, votes_per_account_per_day=0,
                                 votes_per_address_per_minute=0, votes_per_address_per_day=0)
        papercast = build(settings)
        try:
            result = {"machine": _machine(), "engine": papercast.engine.dialect.name, "papers": args.papers,
                      **_catalog(papercast, args.papers),
                      "recommend": _recommend(papercast, args.signals, args.requests),
                      "worker": _worker(papercast, args.readers)}
        finally:
            papercast.close()
    print(json.dumps(result, indent=1))


def _catalog(papercast: Papercast, count: int) -> dict[str, Any]:
    started = time.perf_counter()
    today = papercast.clock.now().date()
    rng = np.random.default_rng(0)
    for start in range(0, count, 5_000):
        papercast.ingest.ingest([
            PaperRecord(paper_id=f"2612.{number:05d}", source="bench", title=f"Synthetic paper {number}",
                        abstract=f"topic {number % TOPICS}", categories=("cs.LG",),
                        announced_on=today - timedelta(days=number % 30))
            for number in range(start, min(start + 5_000, count))])
    ingested = time.perf_counter() - started
    centres = rng.standard_normal((TOPICS, DIMENSION))
    store, model_id = papercast.embedding_store(), papercast.embedding_model_id()
    assert model_id is not None
    while pending := store.pending(model_id, 5_000):
        vectors = centres[[int(p.paper_id.split(".")[1]) % TOPICS for p in pending]]
        vectors = vectors + 1.5 * rng.standard_normal(vectors.shape)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        store.save(model_id, [(p.paper_id, vectors[i].astype(np.float32), p.content_hash, "bench")
                              for i, p in enumerate(pending)])
    return {"ingest_s": round(ingested, 1), "vectors_s": round(time.perf_counter() - started - ingested, 1)}


def _recommend(papercast: Papercast, signals: int, requests: int) -> dict[str, Any]:
    user_id = papercast.accounts().add_user("bench@example.org").id
    count = papercast.papers.count()
    topic_papers = [f"2612.{number:05d}" for number in range(count) if number % TOPICS in (3, 4)][:signals]
    hidden = max(1, signals // 10)
    _bulk_votes(papercast, {user_id: topic_papers[:signals - hidden]})
    service = papercast.recommendations()
    for paper_id in topic_papers[signals - hidden:]:
        service.not_interested(user_id, paper_id)
    started = time.perf_counter()
    report = service.refit(user_id)
    refit = time.perf_counter() - started
    started = time.perf_counter()
    service.recommend(user_id, 20)  # loads the candidate vectors once
    first = time.perf_counter() - started
    times = []
    for _ in range(requests):
        started = time.perf_counter()
        service.recommend(user_id, 20)
        times.append(time.perf_counter() - started)
    times.sort()
    return {"signals": signals, "positives": report.positives, "negatives": report.negatives,
            "refit_ms": round(refit * 1000, 1), "first_request_s": round(first, 2), "requests": requests,
            "p50_ms": round(1000 * statistics.median(times), 1),
            "p95_ms": round(1000 * times[max(0, int(0.95 * len(times)) - 1)], 1),
            "max_ms": round(1000 * times[-1], 1), **_reload(papercast, user_id)}


def _reload(papercast: Papercast, user_id: int) -> dict[str, Any]:
    """Requests while the candidate vectors reload in the background, and the reload's duration."""
    service = papercast.recommendations()
    pool: Any = service._pool  # the bench looks inside: RecentPapers
    papercast.ingest.ingest([PaperRecord(paper_id="2701.00001", source="bench", title="One more",
                                         abstract="A paper that moves the version on.")])
    pool.check_soon()
    started = time.perf_counter()
    times = []
    while not times or not pool.wait_until_idle(0):
        begun = time.perf_counter()
        service.recommend(user_id, 20)
        times.append(time.perf_counter() - begun)
    reload_s = time.perf_counter() - started
    times.sort()
    return {"reload_in_background_s": round(reload_s, 2), "requests_during_reload": len(times),
            "during_reload_p50_ms": round(1000 * statistics.median(times), 1),
            "during_reload_max_ms": round(1000 * times[-1], 1)}


def _worker(papercast: Papercast, readers: int) -> dict[str, Any]:
    rng = np.random.default_rng(1)
    count = papercast.papers.count()
    marks: dict[int, list[str]] = {}
    with papercast.units.begin() as transaction:
        for number in range(readers):
            user = transaction.accounts.add_user(f"reader{number}@example.org", transaction.now)
            assert user is not None
            topic = int(rng.integers(TOPICS))
            per_topic = count // TOPICS
            picks = rng.choice(per_topic, size=min(int(rng.integers(5, 61)), per_topic), replace=False)
            marks[user.id] = [f"2612.{int(pick) * TOPICS + topic:05d}" for pick in picks]
    _bulk_votes(papercast, marks)
    worker = build_worker(papercast, interval=0.01)
    started, cpu = time.perf_counter(), time.process_time()
    done = 0
    while worker._claim_and_run():  # the worker's own claim-and-run step, without its index duties
        done += 1
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    per_reader = elapsed / max(done, 1)
    return {"readers": readers, "jobs_run": done, "seconds": round(elapsed, 1), "cpu_seconds": round(cpu, 1),
            "per_reader_ms": round(per_reader * 1000, 1),
            "cpu_per_reader_ms": round(cpu / max(done, 1) * 1000, 1),
            "ten_thousand_readers_s": round(per_reader * 10_000, 1)}


def _bulk_votes(papercast: Papercast, marks: dict[int, list[str]]) -> None:
    """Upvotes written in bulk, each reader's signal version moved once (as a vote's unit does)."""
    with papercast.units.begin() as transaction:
        rows = [{"user_id": user_id, "paper_id": paper_id, "counted": True, "created_at": transaction.now}
                for user_id, paper_ids in marks.items() for paper_id in paper_ids]
        for start in range(0, len(rows), 5_000):
            transaction.connection.execute(insert(votes), rows[start:start + 5_000])
        for user_id in marks:
            transaction.recommendations.signals_changed(user_id)
    _make_refits_due(papercast)


def _make_refits_due(papercast: Papercast) -> None:
    """Refit jobs run when their coalescing period ends; the bench does not wait for it."""
    with papercast.units.begin() as transaction:
        transaction.connection.execute(update(jobs).where(jobs.c.kind == "refit-recommendations")
                                       .values(run_at=transaction.now - timedelta(seconds=1)))


def _machine() -> dict[str, Any]:
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    cpu = ""
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        cpu = platform.processor()
    blas_threads = sorted({pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"})
    return {"cpu": cpu, "cores": os.cpu_count(), "load_1m": load[0] if load else None,
            "python": platform.python_version(), "blas_threads": blas_threads}


if __name__ == "__main__":
    main()
