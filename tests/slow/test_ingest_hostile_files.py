"""`papercast ingest` in a subprocess on files built to exhaust it: memory stays bounded whatever
the input, an endless input ends with a clear error, and an interrupted or killed ingest leaves
no traceback from either process and keeps what it committed. SQLite."""

from __future__ import annotations

import gzip
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

PAPERCAST = Path(sys.executable).parent / "papercast"
MB = 1024 * 1024
# 200 MB of whitespace (a 200 KB gzip): the whole of it held in memory, as before, peaks at over
# 450 MB; reading it in bounded pieces stays near the interpreter's own ~100 MB.
WHITESPACE = 200 * MB
PEAK_LIMIT_MB = 300
ATOM = '<feed xmlns="http://www.w3.org/2005/Atom">'
OAI = '<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"><ListRecords>'


def _env(tmp_path: Path, **settings: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PAPERCAST_")}
    env.update({"PAPERCAST_DATABASE_URL": f"sqlite:///{tmp_path / 'papercast.db'}",
                "PAPERCAST_DATA_DIR": str(tmp_path / "data"), **settings})
    return env


def _gzip_with_whitespace(path: Path, before: str, after: str, space: bytes = b" ") -> Path:
    """`before`, WHITESPACE bytes of `space`, then `after`, gzip-compressed without holding it whole."""
    chunk = space * MB
    with gzip.open(path, "wb", compresslevel=6) as out:
        out.write(before.encode())
        for _ in range(WHITESPACE // MB):
            out.write(chunk)
        out.write(after.encode())
    return path


# Runs one command and prints its exit status and peak RSS (KB). A small process of its own starts
# it: Linux keeps a process's high-water mark across exec, so a child forked from a large test
# process would report at least that process's size.
_MEASURE = """
import os, subprocess, sys
child = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
_, status, usage = os.wait4(child.pid, 0)
print(os.waitstatus_to_exitcode(status), usage.ru_maxrss)
"""


def _run_measured(args: list[str], env: dict[str, str], timeout: float = 120) -> tuple[int, str, float]:
    """Exit status, stderr and peak RSS (MB) of one `papercast` run."""
    process = subprocess.Popen([sys.executable, "-c", _MEASURE, str(PAPERCAST), *args], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        pytest.fail(f"papercast {' '.join(args)} still ran after {timeout} s")
    code, peak_kb = map(int, out.split())
    return code, err.decode(), peak_kb / 1024


LAYOUTS = {
    "atom, whitespace inside the feed": ("arxiv-api", f"{ATOM}", "</feed>", b" "),
    "atom, whitespace inside a title": ("arxiv-api", f"{ATOM}<entry><title>", "</title></entry></feed>",
                                        b" "),
    "oai, newlines between elements": ("oai-pmh", OAI, "</ListRecords></OAI-PMH>", b"\n"),
    "rss, whitespace inside the channel": ("rss", "<rss><channel>", "</channel></rss>", b"\t"),
    "hf-daily, whitespace inside the array": ("hf-daily", "[", "]", b" "),
    "jsonl, one endless line": ("snapshot", '{"id": "2101.00001", "title": "', '"}\n', b" "),
    "format detection, one endless line": (None, '{"id": "2101.00001", "title": "', '"}\n', b" "),
}


@pytest.mark.parametrize("layout", LAYOUTS)
def test_memory_stays_bounded_on_a_gzip_of_whitespace(tmp_path: Path, layout: str) -> None:
    fmt, before, after, space = LAYOUTS[layout]
    path = _gzip_with_whitespace(tmp_path / "bomb.gz", before, after, space)
    assert path.stat().st_size < 2 * MB
    args = ["ingest", "--json", *(["--format", fmt] if fmt else []), str(path)]

    code, stderr, peak_mb = _run_measured(args, _env(tmp_path, PAPERCAST_INGEST_READ_AHEAD_MB="0"))

    assert peak_mb < PEAK_LIMIT_MB, f"{layout}: peak RSS {peak_mb:.0f} MB"
    assert code in (0, 1, 2), stderr
    assert "Traceback" not in stderr


@pytest.mark.parametrize("fmt", ["snapshot", "jsonl", "arxiv-api", "oai-pmh", "rss", "hf-daily", None])
def test_an_endless_input_ends_with_a_clear_error(tmp_path: Path, fmt: str | None) -> None:
    args = ["ingest", *(["--format", fmt] if fmt else []), "/dev/zero"]

    code, stderr, peak_mb = _run_measured(args, _env(tmp_path), timeout=60)

    assert code in (1, 2)
    assert "Traceback" not in stderr
    assert "/dev/zero" in stderr
    assert peak_mb < PEAK_LIMIT_MB


def test_an_endless_line_names_the_limit_it_went_over(tmp_path: Path) -> None:
    args = ["ingest", "--format", "snapshot", "/dev/zero"]
    code, stderr, _ = _run_measured(args, _env(tmp_path), timeout=60)
    assert code == 1
    assert "MAX_SKIPPED_BYTES" in stderr and "line 1" in stderr


# --- interrupted and killed ingests ----------------------------------------------------------------


def _large_snapshot(path: Path, count: int) -> Path:
    abstract = "A sentence about a method and its results. " * 20
    with path.open("w") as out:
        for n in range(count):
            out.write(json.dumps({"id": f"{2101 + n // 90000}.{n % 90000:05d}", "title": f"Paper {n}",
                                  "abstract": abstract, "authors": "A. Author, B. Author",
                                  "versions": [{"version": "v1", "created": "Mon, 1 Feb 2021 10:00:00 GMT"}]})
                      + "\n")
    return path


def _stored(database: Path) -> int:
    try:
        with sqlite3.connect(database) as connection:
            return int(connection.execute("SELECT count(*) FROM papers").fetchone()[0])
    except sqlite3.Error:  # not created yet
        return 0


@pytest.fixture(scope="module")
def large_snapshot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    # ~30 MB: read ahead (the threshold is set to 1 MiB) and long enough to interrupt mid-way.
    yield _large_snapshot(tmp_path_factory.mktemp("snapshot") / "large.jsonl", 30_000)


@pytest.mark.parametrize(("signum", "to_group"), [
    (signal.SIGINT, True), (signal.SIGTERM, True), (signal.SIGINT, False), (signal.SIGTERM, False),
    (signal.SIGKILL, False),
], ids=["ctrl-c", "sigterm-to-group", "sigint-to-parent", "sigterm-to-parent", "sigkill-to-parent"])
def test_an_interrupted_ingest_keeps_what_it_committed_without_a_traceback(
    tmp_path: Path, large_snapshot: Path, signum: int, to_group: bool
) -> None:
    database = tmp_path / "papercast.db"
    env = _env(tmp_path, PAPERCAST_INGEST_BATCH_SIZE="500", PAPERCAST_INGEST_READ_AHEAD_MB="1")
    args = [str(PAPERCAST), "ingest", "--format", "snapshot", str(large_snapshot)]
    process = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               start_new_session=True)
    deadline = time.monotonic() + 120
    while (committed := _stored(database)) == 0:  # the read-ahead process is running by now
        assert process.poll() is None, "ingest ended before it was interrupted"
        assert time.monotonic() < deadline, "ingest committed nothing in two minutes"
        time.sleep(0.05)

    if to_group:  # what a terminal's Ctrl-C or `kill -- -PGID` does
        os.killpg(process.pid, signum)
    else:
        process.send_signal(signum)
    # Waits for the read-ahead process too: it holds the same stderr until it ends.
    _, stderr_bytes = process.communicate(timeout=60)
    stderr = stderr_bytes.decode()

    assert "Traceback" not in stderr
    assert _stored(database) >= committed
    if signum == signal.SIGKILL:
        assert process.returncode == -signal.SIGKILL
        assert stderr == ""
    else:
        assert process.returncode == 130
        assert stderr.strip().splitlines() == ["error: interrupted; everything committed so far is kept"]


def test_a_fifo_is_read_once(tmp_path: Path) -> None:
    """A pipe can be read only once: the gzip check must not consume what the reader needs."""
    fifo = tmp_path / "papers.fifo"
    os.mkfifo(fifo)
    lines = b"".join(json.dumps({"id": f"seed-{n}", "title": "T"}).encode() + b"\n" for n in range(5))
    writer = subprocess.Popen([sys.executable, "-c", f"open({str(fifo)!r}, 'wb').write({lines!r})"])
    code, stderr, _ = _run_measured(["ingest", "--format", "jsonl", str(fifo)], _env(tmp_path), timeout=60)
    writer.wait(timeout=10)
    assert code == 0, stderr
    assert _stored(tmp_path / "papercast.db") == 5


def test_a_compressed_fifo_is_decompressed(tmp_path: Path) -> None:
    fifo = tmp_path / "papers.fifo"
    os.mkfifo(fifo)
    data = gzip.compress(b"".join(json.dumps({"id": f"seed-{n}", "title": "T"}).encode() + b"\n"
                                  for n in range(3)))
    writer = subprocess.Popen([sys.executable, "-c", f"open({str(fifo)!r}, 'wb').write({data!r})"])
    code, stderr, _ = _run_measured(["ingest", "--format", "jsonl", str(fifo)], _env(tmp_path), timeout=60)
    writer.wait(timeout=10)
    assert code == 0, stderr
    assert _stored(tmp_path / "papercast.db") == 3
