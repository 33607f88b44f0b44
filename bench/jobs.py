"""Job throughput of real `papercast worker` processes, and what an idle worker costs.

For each engine (SQLite, PostgreSQL) and each number of workers (1 and 4): start the workers on a
fresh database, wait until each says it is running, enqueue `--count` jobs of a kind that does
nothing (`bench.noop`, added to the workers by this module through
PAPERCAST_WORKER_TASK_MODULES) in one transaction, and time until every one is done: jobs claimed
and completed per second, and how many each worker ran. Then one worker with the default
settings and nothing due is left alone for `--idle-seconds`, and its CPU time (user + system,
every thread, from /proc/PID/stat) is divided by the wall time: the share of one core an idle
worker takes. Prints one JSON object with the machine's description.

    python bench/jobs.py [--count 2000] [--workers 1,4] [--engines sqlite,postgresql] [--idle-seconds 30]

PostgreSQL as in bench/ingest.py: PAPERCAST_TEST_POSTGRES_URL, else the private cluster.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
PAPERCAST = Path(sys.executable).parent / "papercast"
NOOP = "bench.noop"


def register_tasks(registry: Any, _papercast: Any) -> None:
    """Called in the worker processes (PAPERCAST_WORKER_TASK_MODULES=jobs): a job that does nothing."""
    from papercast.worker.registry import JobKind

    registry.add(JobKind(NOOP, lambda _context: None, description="does nothing (bench/jobs.py)"))


def worker_env(url: str, data_dir: Path, **settings: str) -> dict[str, str]:
    base = {key: value for key, value in os.environ.items() if not key.startswith("PAPERCAST_")}
    values = {"database_url": url, "data_dir": str(data_dir), "embedding_model": "hashing",
              "worker_task_modules": "jobs", "log_level": "INFO", **settings}
    return {**base, **{f"PAPERCAST_{name.upper()}": value for name, value in values.items()},
            "PYTHONPATH": os.pathsep.join(filter(None, [str(BENCH), base.get("PYTHONPATH")]))}


def start_workers(env: dict[str, str], count: int, logs: Path) -> list[tuple[subprocess.Popen[bytes], Path]]:
    logs.mkdir(parents=True, exist_ok=True)
    started = []
    for number in range(count):
        log = logs / f"worker-{number}-{time.monotonic_ns()}.log"
        with log.open("wb") as output:
            process = subprocess.Popen([str(PAPERCAST), "worker"], env=env, stdout=output,
                                       stderr=subprocess.STDOUT)
        started.append((process, log))
    deadline = time.monotonic() + 300
    # `papercast worker` says "... running; SIGTERM or Ctrl-C stops it" just before its loop starts.
    while not all("running; SIGTERM" in log.read_text(errors="replace") for _, log in started):
        if time.monotonic() > deadline or any(process.poll() is not None for process, _ in started):
            stop_workers(started)
            tails = " | ".join(log.read_text(errors="replace")[-500:] for _, log in started)
            raise RuntimeError(f"a worker did not start: {tails}")
        time.sleep(0.1)
    return started


def stop_workers(started: list[tuple[subprocess.Popen[bytes], Path]]) -> None:
    for process, _ in started:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process, _ in started:
        process.wait(timeout=120)


def throughput(url: str, workdir: Path, workers: int, count: int) -> dict[str, Any]:
    from sqlalchemy import func, select

    from papercast.bootstrap import build
    from papercast.settings import Settings
    from papercast.storage.tables import jobs

    env = worker_env(url, workdir / "data", worker_interval="0.25")
    app = build(Settings.load(env=env))  # creates the schema, and enqueues the jobs below
    started = start_workers(env, workers, workdir)
    try:
        begun = time.perf_counter()
        with app.units.begin() as transaction:
            for number in range(count):
                transaction.jobs.enqueue(NOOP, {"n": number})
        done_query = select(func.count()).where(jobs.c.kind == NOOP, jobs.c.state == "done")
        while True:
            with app.engine.connect() as connection:
                if connection.execute(done_query).scalar_one() >= count:
                    break
            time.sleep(0.02)
        seconds = time.perf_counter() - begun
    finally:
        stop_workers(started)
        app.close()
    per_worker = [log.read_text(errors="replace").count(f"kind={NOOP} ") for _, log in started]
    return {"workers": workers, "jobs": count, "seconds": round(seconds, 3),
            "jobs_per_second": round(count / seconds, 1), "jobs_per_worker": per_worker}


def idle_cpu(url: str, workdir: Path, seconds: float) -> dict[str, Any]:
    """The share of one core a default-configured worker takes with nothing due."""
    [(process, log)] = start_workers(worker_env(url, workdir / "data", log_level="WARNING"), 1, workdir)
    try:
        time.sleep(5)  # start-up done: the first index-following rounds, the periodic jobs
        ticks, began = _cpu_ticks(process.pid), time.monotonic()
        time.sleep(seconds)
        used = (_cpu_ticks(process.pid) - ticks) / os.sysconf("SC_CLK_TCK")
        wall = time.monotonic() - began
    finally:
        stop_workers([(process, log)])
    return {"seconds": round(wall, 1), "cpu_seconds": round(used, 3),
            "core_percent": round(100 * used / wall, 2)}


def _cpu_ticks(pid: int) -> int:
    """utime + stime of every thread of `pid`, in clock ticks (fields 14 and 15 of /proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--workers", default="1,4")
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--idle-seconds", type=float, default=30.0)
    args = parser.parse_args()
    from ingest import Postgres, fresh_database  # bench/ingest.py: fresh databases of each engine

    engines = [engine.strip() for engine in args.engines.split(",") if engine.strip()]
    output: dict[str, Any] = {"benchmark": "jobs", "count": args.count, "machine": machine()}
    postgres = None
    if "postgresql" in engines:
        try:
            postgres = Postgres(os.environ.get("PAPERCAST_TEST_POSTGRES_URL"))
            output["machine"]["postgresql"] = postgres.version
        except (RuntimeError, OSError) as error:
            output["postgresql_skipped"] = str(error)
            engines.remove("postgresql")
    try:
        with tempfile.TemporaryDirectory(prefix="papercast-bench-jobs-") as temp:
            for engine in engines:
                results: dict[str, Any] = {"throughput": []}
                for workers in (int(n) for n in args.workers.split(",")):
                    label = f"jobs_{engine}_{workers}"
                    with fresh_database(engine, postgres, Path(temp), label) as url:
                        results["throughput"].append(throughput(url, Path(temp) / label, workers, args.count))
                with fresh_database(engine, postgres, Path(temp), f"jobs_{engine}_idle") as url:
                    results["idle"] = idle_cpu(url, Path(temp) / f"{engine}-idle", args.idle_seconds)
                output[engine] = results
    finally:
        if postgres is not None:
            postgres.close()
    json.dump(output, sys.stdout, indent=2)
    sys.stdout.write("\n")


def machine() -> dict[str, Any]:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    return {"python": platform.python_version(), "cpus": os.cpu_count(), "cpu_model": model,
            "load_average_1m_at_start": round(os.getloadavg()[0], 2)}


if __name__ == "__main__":
    main()
