"""`papercast serve` starting: an out-of-date schema refused before listening, "serving on" said
only once it answers, and an address it cannot listen on one line and exit status 2."""

from __future__ import annotations

import errno
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from papercast.cli.context import EXIT_ERROR
from papercast.cli.listen import listen_problem
from papercast.cli.main import app
from papercast.storage import migrations
from papercast.storage.engine import create_database_engine

runner = CliRunner()


def test_serve_refuses_an_old_schema(settings_env: dict[str, str], tmp_path: Path) -> None:
    engine = create_database_engine(settings_env["PAPERCAST_DATABASE_URL"])
    migrations.upgrade(engine, "0001_catalog")
    engine.dispose()
    result = runner.invoke(app, ["serve", "--port", "1"], env=settings_env)
    assert result.exit_code == 2
    assert "error: the database schema is at revision 0001_catalog" in result.stderr
    assert "run `papercast db upgrade`" in result.stderr


def test_serve_help_lists_its_options() -> None:
    result = runner.invoke(app, ["serve", "--help"])
    assert result.exit_code == 0
    for option in ("--host", "--port", "--no-worker", "--workers"):
        assert option in result.stdout


# Start-up: "serving on" only once it listens; a start that fails is one line and status 2.

def _serve_process(data_dir: Path, *args: str) -> subprocess.Popen[str]:
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("PAPERCAST_") and "proxy" not in key.lower()}
    env.update(PAPERCAST_DATA_DIR=str(data_dir), PAPERCAST_EMBEDDING_MODEL="hashing")
    return subprocess.Popen([sys.executable, "-m", "papercast", "serve", *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as other_server:
        other_server.bind(("127.0.0.1", 0))
        other_server.listen()
        yield int(other_server.getsockname()[1])


@pytest.mark.parametrize("workers", ["1", "2"])
def test_serve_on_a_port_in_use_says_so_in_one_line_and_exits_2(workers: str, taken_port: int,
                                                                 tmp_path: Path) -> None:
    process = _serve_process(tmp_path, "--port", str(taken_port), "--workers", workers)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == EXIT_ERROR
    assert stderr == (f"error: cannot listen on 127.0.0.1:{taken_port}: the port is already in use "
                      "(another server?); stop it or choose another --port\n")


@pytest.mark.parametrize(("workers", "stop"), [("1", signal.SIGINT), ("2", signal.SIGTERM)],
                         ids=["one-process-ctrl-c", "two-processes-sigterm"])
def test_serve_says_serving_on_once_it_answers_and_stops_with_status_0(workers: str, stop: signal.Signals,
                                                                       tmp_path: Path) -> None:
    process = _serve_process(tmp_path, "--port", "0", "--no-worker", "--workers", workers)
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
        while line and "serving on" not in line:  # log lines of the worker processes may come first
            line = process.stderr.readline()
        assert line.startswith("papercast serving on http://127.0.0.1:"), line
        url = line.split()[3]
        # No retry: the moment it says so, it answers.
        with urllib.request.urlopen(f"{url}healthz", timeout=30) as response:
            assert response.status == 200
        process.send_signal(stop)
        _, rest = process.communicate(timeout=60)
    finally:
        process.kill()
        process.wait()
    assert process.returncode == 0
    assert rest.endswith("papercast stopped\n")
    assert "Traceback" not in rest


@pytest.mark.parametrize(("host", "problem"), [
    ("no-such-host.invalid", "'no-such-host.invalid' is neither an address nor a known host name"),
    # TEST-NET-1 (RFC 5737): never an address of this machine.
    ("192.0.2.1", "192.0.2.1 is not an address of this machine"),
])
def test_serve_on_a_host_it_cannot_listen_on_says_so_in_one_line(host: str, problem: str,
                                                                  tmp_path: Path) -> None:
    result = runner.invoke(app, ["serve", "--host", host, "--port", "8000", "--no-worker"],
                           env={"PAPERCAST_DATA_DIR": str(tmp_path), "PAPERCAST_DATABASE_URL": None,
                                "PAPERCAST_EMBEDDING_MODEL": "hashing"})
    assert result.exit_code == EXIT_ERROR
    assert isinstance(result.exception, SystemExit)
    assert result.stderr.startswith(f"error: cannot listen on {host}:8000: {problem}")
    assert result.stderr.count("\n") == 1
    assert "127.0.0.1 or 0.0.0.0" in result.stderr or "127.0.0.1, 0.0.0.0" in result.stderr
    assert "serving on" not in result.output


def test_a_refused_low_port_says_that_ports_below_1024_need_root() -> None:
    # Refused by the system only when not root: the message is checked on its own.
    refused = OSError(errno.EACCES, "Permission denied")
    assert listen_problem("0.0.0.0", 80, refused) == (
        "cannot listen on 0.0.0.0:80: permission denied; ports below 1024 need root: "
        "choose --port 1024 or above")
    assert listen_problem("0.0.0.0", 8080, refused) == "cannot listen on 0.0.0.0:8080: permission denied"
