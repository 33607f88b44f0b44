"""Ingest throughput and memory: synthetic snapshot records into fresh SQLite and PostgreSQL databases.

Generates `--count` records (bench/synthetic.py), then for each engine ingests a quarter of them
and all of them into a fresh database, each in its own child process, timing only what
`papercast ingest --format snapshot` runs (reading, parsing, validating, merging and writing;
not generation or schema creation). The peak RSS of each child shows whether memory grows with
the input; a file of 32 MiB or more is read ahead by a process of the child's own, whose peak
is reported beside it. A last child ingests the full file a second time, when every record is
unchanged. Prints one JSON object.

    python bench/ingest.py [--count 100000] [--engines sqlite,postgresql] [--seed 1]

PostgreSQL: PAPERCAST_TEST_POSTGRES_URL when set, else the private cluster of scripts/test-postgres
(started, and stopped afterwards if nobody else uses it); each run gets a database of its own.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
ENGINES = ("sqlite", "postgresql")


# --- child: one ingest, in a process of its own so its peak RSS is its own ------------------------


def run_child(database_url: str, path: Path, data_dir: Path) -> dict[str, Any]:
    from papercast.bootstrap import build
    from papercast.cli.ingest import ingest_files
    from papercast.settings import Settings

    settings = Settings.load(env={}, data_dir=data_dir, database_url=database_url)
    app = build(settings)  # creates the schema: not timed
    try:
        started = time.perf_counter()
        # What `papercast ingest --format snapshot PATH` runs, without the printing.
        report, errors = ingest_files(app.ingest, [path], "snapshot", show_progress=False)
        seconds = time.perf_counter() - started
        if errors:
            raise SystemExit(f"ingest failed: {errors}")
    finally:
        app.close()
    # The read-ahead process (when the file was large enough for one), waited for by this one.
    read_ahead_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"seconds": seconds, "vm_hwm_mb": _vm_hwm_mb(),
            "read_ahead_peak_rss_mb": round(read_ahead_mb, 1) if read_ahead_mb else None,
            "new": report.new, "updated": report.updated,
            "unchanged": report.unchanged, "rejected": report.rejected,
            "first_rejections": [r.as_dict() for r in report.rejections[:3]]}


def _vm_hwm_mb() -> float | None:
    """This process's peak RSS since exec (Linux), to cross-check the parent's ru_maxrss."""
    with suppress(OSError), open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    return None


def ingest_in_child(database_url: str, path: Path, data_dir: Path, records: int) -> dict[str, Any]:
    """Run one ingest in a child process; its result plus its peak RSS.

    The peak is the child's ru_maxrss from wait4 (RUSAGE_CHILDREN, one child at a time). Linux
    carries the parent's peak across fork and exec into it, which is why the parent stays small
    (records are generated in a separate process); the child also reports its own VmHWM.
    """
    result_file = data_dir / "result.json"
    command = [sys.executable, __file__, "--child", "--database-url", database_url,
               "--file", str(path), "--data-dir", str(data_dir), "--result", str(result_file)]
    child = subprocess.Popen(command)
    _, wait_status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(wait_status)
    if child.returncode != 0:
        raise SystemExit(f"ingest child failed with status {child.returncode}: {' '.join(command)}")
    result = json.loads(result_file.read_text())
    seconds = result.pop("seconds")
    return {"records": records, "seconds": round(seconds, 3),
            "papers_per_second": round(records / seconds) if seconds else None,
            "peak_rss_mb": round(usage.ru_maxrss / 1024, 1), **result}


# --- databases -------------------------------------------------------------------------------------


class Postgres:
    """Fresh databases on a PostgreSQL server: the given one, or the private test cluster."""

    def __init__(self, url: str | None) -> None:
        self.started_cluster = False
        if not url:
            url = self._acquire_cluster()
        from sqlalchemy import create_engine, text

        self.base_url = url
        self.admin = create_engine(url, isolation_level="AUTOCOMMIT")
        with self.admin.connect() as connection:
            self.version = connection.execute(text("SHOW server_version")).scalar_one()

    def _acquire_cluster(self) -> str:
        script = REPO / "scripts" / "test-postgres"
        done = subprocess.run([str(script), "acquire", str(os.getpid())], capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(done.stderr.strip() or "scripts/test-postgres acquire failed")
        self.started_cluster = True
        return done.stdout.strip().splitlines()[-1]

    @contextmanager
    def database(self, name: str) -> Iterator[str]:
        from sqlalchemy import text
        from sqlalchemy.engine import make_url

        with self.admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield make_url(self.base_url).set(database=name).render_as_string(hide_password=False)
        finally:
            with self.admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    def close(self) -> None:
        self.admin.dispose()
        if self.started_cluster:
            subprocess.run([str(REPO / "scripts" / "test-postgres"), "release", str(os.getpid())],
                           check=False)


@contextmanager
def fresh_database(engine: str, postgres: Postgres | None, workdir: Path, label: str) -> Iterator[str]:
    if engine == "sqlite":
        path = workdir / f"{label}.db"
        yield f"sqlite:///{path}"
        for suffix in ("", "-wal", "-shm"):
            with suppress(FileNotFoundError):
                Path(f"{path}{suffix}").unlink()
        return
    assert postgres is not None
    with postgres.database(f"papercast_bench_{os.getpid()}_{label}") as url:
        yield url


# --- the benchmark ---------------------------------------------------------------------------------


def benchmark(count: int, engines: list[str], seed: int) -> dict[str, Any]:
    output: dict[str, Any] = {"benchmark": "ingest", "count": count, "seed": seed}
    postgres = None
    if "postgresql" in engines:
        try:
            postgres = Postgres(os.environ.get("PAPERCAST_TEST_POSTGRES_URL"))
        except (RuntimeError, OSError) as error:
            output["postgresql_skipped"] = str(error)
            engines = [e for e in engines if e != "postgresql"]
    try:
        output["machine"] = machine(postgres)
        with tempfile.TemporaryDirectory(prefix="papercast-bench-") as temp:
            workdir = Path(temp)
            full, quarter = workdir / "records.jsonl", workdir / "records-quarter.jsonl"
            started = time.perf_counter()
            subprocess.run([sys.executable, str(REPO / "bench" / "synthetic.py"), "--count", str(count),
                            "--seed", str(seed), "--out", str(full)], check=True, stdout=subprocess.DEVNULL)
            output["generate_seconds"] = round(time.perf_counter() - started, 3)
            quarter_count = _head(full, quarter, count // 4)
            output["input_mb"] = round(full.stat().st_size / 2**20, 1)
            output["engines"] = {engine: _engine_runs(engine, postgres, workdir, full, count,
                                                      quarter, quarter_count)
                                 for engine in engines}
    finally:
        if postgres is not None:
            postgres.close()
    # Children's ru_maxrss can be no lower than this (see ingest_in_child).
    output["parent_peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return output


def _engine_runs(engine: str, postgres: Postgres | None, workdir: Path, full: Path, count: int,
                 quarter: Path, quarter_count: int) -> dict[str, Any]:
    runs = []
    for label, path, records in (("quarter", quarter, quarter_count), ("full", full, count)):
        with fresh_database(engine, postgres, workdir, label) as url:
            runs.append(ingest_in_child(url, path, workdir, records))
            if label == "full":
                second = ingest_in_child(url, path, workdir, records)
    flat = runs[1]["peak_rss_mb"] / runs[0]["peak_rss_mb"]
    return {"runs": runs, "second_run_unchanged": second,
            "rss_growth_full_vs_quarter": round(flat, 2)}


def _head(source: Path, target: Path, lines: int) -> int:
    written = 0
    with source.open("rb") as reader, target.open("wb") as writer:
        for line in reader:
            if written == lines:
                break
            writer.write(line)
            written += 1
    return written


def machine(postgres: Postgres | None) -> dict[str, Any]:
    info: dict[str, Any] = {
        "cpu": _cpu_model(), "cores": os.cpu_count(), "ram_gb": _ram_gb(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(), "sqlite": sqlite3.sqlite_version,
    }
    if postgres is not None:
        info["postgresql"] = postgres.version
    return info


def _cpu_model() -> str:
    with suppress(OSError), open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _ram_gb() -> float | None:
    with suppress(OSError), open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Measure `papercast ingest` throughput and memory.")
    parser.add_argument("--count", type=int, default=100_000, help="Records to ingest (default 100000).")
    parser.add_argument("--engines", default=",".join(ENGINES), help="Comma-separated: sqlite,postgresql.")
    parser.add_argument("--seed", type=int, default=1, help="Seed of the synthetic records.")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--database-url", help=argparse.SUPPRESS)
    parser.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        result = run_child(args.database_url, args.file, args.data_dir)
        args.result.write_text(json.dumps(result))
        return 0
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    unknown = set(engines) - set(ENGINES)
    if unknown or not engines:
        parser.error(f"--engines: choose from {', '.join(ENGINES)}")
    if args.count < 4:
        parser.error("--count must be at least 4")
    print(json.dumps(benchmark(args.count, engines, args.seed)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
