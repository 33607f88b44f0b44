"""Errors a user can act on: each class of unusable setting, database or input file ends a command
with one line on stderr naming the setting or file and what to do, a documented exit status
(docs/cli.md), and never a traceback or an "unexpected" crash report."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from sqlalchemy.engine import make_url
from typer.testing import CliRunner, Result

from papercast.cli.context import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_PARTIAL, guarded, user_errors
from papercast.cli.main import app
from papercast.settings import SETTINGS
from papercast.storage import engine as storage_engine

runner = CliRunner()


def invoke(args: list[str], **settings: str) -> Result:
    """Run the CLI in process with exactly these PAPERCAST_* settings (the rest unset)."""
    env: dict[str, str | None] = {spec.env_var: None for spec in SETTINGS}
    env.update({"PAPERCAST_CONFIG": None, **settings})
    return runner.invoke(app, args, env=env)


def assert_one_line_error(result: Result, *fragments: str, status: int = EXIT_ERROR) -> str:
    """The command ended with `status` and one `error:` line holding every fragment."""
    assert result.exit_code == status, result.output
    # Anything but a deliberate exit would be a crash the user sees as a traceback.
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and "unexpected" not in lines[0], lines[0]
    for fragment in fragments:
        assert fragment in lines[0]
    return lines[0]


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# Settings: every command checks them at start-up, before it touches anything.

COMMANDS = [["status"], ["config", "show"], ["db", "upgrade"], ["ingest", "papers.jsonl"], ["demo"],
            ["search", "attention"], ["eval", "queries.jsonl"], ["papers", "show", "1706.03762"],
            ["embed"], ["index", "status"], ["worker", "--once"], ["serve", "--port", "0"],
            ["harvest", "arxiv", "--max-pages", "1"]]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
@pytest.mark.parametrize(("variable", "value", "allowed"), [
    ("PAPERCAST_INGEST_BATCH_SIZE", "0", "at least 1"),
    ("PAPERCAST_INGEST_BATCH_SIZE", "-5", "at least 1"),
    ("PAPERCAST_LOG_LEVEL", "LOUD", "one of DEBUG, INFO, WARNING, ERROR"),
])
def test_every_command_refuses_a_bad_setting_naming_it_and_the_allowed_values(
        command: list[str], variable: str, value: str, allowed: str, data_dir: Path) -> None:
    result = invoke(command, PAPERCAST_DATA_DIR=str(data_dir), PAPERCAST_EMBEDDING_MODEL="hashing",
                    # So that old code, which does not check settings, fails fast instead of harvesting.
                    PAPERCAST_OAI_BASE_URL="http://127.0.0.1:1/oai", PAPERCAST_HARVEST_MAX_ATTEMPTS="1",
                    **{variable: value})
    line = assert_one_line_error(result, f"{variable} must be {allowed}, not ")
    assert line.endswith((f"not {value}", f"not {value!r}"))
    assert not data_dir.exists()


def test_a_data_directory_that_is_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "var").write_text("notes\n")
    result = invoke(["status"], PAPERCAST_DATA_DIR=str(tmp_path / "var"))
    assert_one_line_error(result, "PAPERCAST_DATA_DIR", str(tmp_path / "var"), "is a file, not a directory")


def test_a_file_where_the_index_directory_belongs_is_named_with_what_to_do(data_dir: Path) -> None:
    data_dir.mkdir()
    (data_dir / "index").write_text("")
    result = invoke(["index", "status"], PAPERCAST_DATA_DIR=str(data_dir),
                    PAPERCAST_EMBEDDING_MODEL="hashing")
    assert_one_line_error(result, f"cannot use {data_dir / 'index'}", "move it away")


# Database URLs and SQLite files.

@pytest.mark.parametrize(("url", "problem"), [
    ("mysql://app:hunter2@db/papercast", "names 'mysql', which papercast does not support"),
    ("papercast.db", "is not a database URL"),
])
def test_an_unknown_database_url_is_refused_with_the_supported_forms(url: str, problem: str,
                                                                      data_dir: Path) -> None:
    result = invoke(["status"], PAPERCAST_DATA_DIR=str(data_dir), PAPERCAST_DATABASE_URL=url)
    line = assert_one_line_error(result, f"PAPERCAST_DATABASE_URL {problem}", "sqlite:///PATH",
                                 "postgresql+psycopg://")
    assert "hunter2" not in line


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_an_in_memory_database_is_refused_before_ingest_reports_a_success_that_vanishes(
        url: str, tmp_path: Path) -> None:
    papers = tmp_path / "papers.jsonl"
    papers.write_text('{"id": "seed-001", "title": "A title", "abstract": "An abstract."}\n')
    result = invoke(["ingest", str(papers)], PAPERCAST_DATA_DIR=str(tmp_path / "data"),
                    PAPERCAST_DATABASE_URL=url)
    assert_one_line_error(result, "PAPERCAST_DATABASE_URL names an in-memory SQLite database",
                          "sqlite:///PATH/papercast.db")
    assert "new" not in result.stdout


def test_a_sqlite_path_in_a_directory_that_does_not_exist_is_refused_not_created(tmp_path: Path) -> None:
    missing = tmp_path / "typo" / "papercast.db"
    result = invoke(["status"], PAPERCAST_DATA_DIR=str(tmp_path / "data"),
                    PAPERCAST_DATABASE_URL=f"sqlite:///{missing}")
    assert_one_line_error(result, "PAPERCAST_DATABASE_URL", f"the directory {missing.parent} ",
                          "does not exist")
    assert not missing.parent.exists()


def test_the_default_database_still_creates_its_data_directory(tmp_path: Path) -> None:
    data_dir = tmp_path / "fresh" / "var"
    result = invoke(["status"], PAPERCAST_DATA_DIR=str(data_dir))
    assert result.exit_code == 0, result.output
    assert (data_dir / "papercast.db").is_file()


@pytest.mark.parametrize("content", [b"not a database\n", bytes(8192)], ids=["text", "zeroed"])
@pytest.mark.parametrize("setting", ["PAPERCAST_DATABASE_URL", "PAPERCAST_DATA_DIR"])
def test_a_file_that_is_not_a_sqlite_database_is_named(content: bytes, setting: str, tmp_path: Path) -> None:
    database = tmp_path / "papercast.db"
    database.write_bytes(content)
    settings = {"PAPERCAST_DATA_DIR": str(tmp_path)}
    if setting == "PAPERCAST_DATABASE_URL":
        settings["PAPERCAST_DATABASE_URL"] = f"sqlite:///{database}"
    for command in (["status"], ["db", "status"]):
        assert_one_line_error(invoke(command, **settings), f"{database} is not a SQLite database",
                              f"correct {setting}")
    assert database.read_bytes() == content


# PostgreSQL that cannot be reached: one line naming host and port, soon.

def test_postgresql_refusing_connections_is_named_by_host_and_port(data_dir: Path) -> None:
    port = _free_port()
    result = invoke(["status"], PAPERCAST_DATA_DIR=str(data_dir),
                    PAPERCAST_DATABASE_URL=f"postgresql+psycopg://app:hunter2@127.0.0.1:{port}/papercast")
    line = assert_one_line_error(result, f"cannot connect to PostgreSQL at 127.0.0.1:{port}: "
                                 "connection refused", "PAPERCAST_DATABASE_URL")
    assert "hunter2" not in line


def test_an_unknown_postgresql_host_is_named(data_dir: Path) -> None:
    result = invoke(["db", "status"], PAPERCAST_DATA_DIR=str(data_dir),
                    PAPERCAST_DATABASE_URL="postgresql+psycopg://app@no-such-host.invalid/papercast")
    assert_one_line_error(result, "PostgreSQL at no-such-host.invalid:5432: "
                          "unknown host 'no-such-host.invalid'")


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts TCP connections and never says a word, like a server behind a
    firewall that drops the answers."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield int(server.getsockname()[1])


def test_a_postgresql_server_that_never_answers_fails_after_the_connect_timeout(
        silent_server: int, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(storage_engine, "POSTGRES_CONNECT_TIMEOUT_S", 1)
    result = invoke(["status"], PAPERCAST_DATA_DIR=str(data_dir),
                    PAPERCAST_DATABASE_URL=f"postgresql+psycopg://app@127.0.0.1:{silent_server}/papercast")
    assert_one_line_error(result, f"127.0.0.1:{silent_server}: no answer within 1 s")


@pytest.mark.parametrize(("change", "reason"), [
    ({"database": "papercast_no_such_database"},
     "database 'papercast_no_such_database' does not exist; create it (createdb papercast_no_such_database)"),
    ({"username": "papercast_no_such_user"},
     "user 'papercast_no_such_user' does not exist on the server; check the user name"),
], ids=["database", "user"])
def test_a_missing_postgresql_database_or_user_says_what_to_do(change: dict[str, str], reason: str,
                                                                postgres_url: str, data_dir: Path) -> None:
    url = make_url(postgres_url).set(**change).render_as_string(hide_password=False)
    result = invoke(["status"], PAPERCAST_DATA_DIR=str(data_dir), PAPERCAST_DATABASE_URL=url)
    assert_one_line_error(result, "cannot connect to PostgreSQL at", reason)


# Query files: invalid UTF-8 is named by file and line.

@pytest.mark.parametrize("command", [["search", "--batch"], ["eval"]], ids=["search-batch", "eval"])
def test_invalid_utf8_in_a_query_file_names_the_file_and_line(command: list[str], tmp_path: Path) -> None:
    queries = tmp_path / "queries.jsonl"
    queries.write_bytes(b'\xef\xbb\xbf{"qid": "1", "query": "attention", "relevant": {"a": 1}}\n\n'
                        b'{"qid": "2", "query": "caf\xe9", "relevant": {"a": 1}}\n')
    result = invoke([*command, str(queries)], PAPERCAST_DATA_DIR=str(tmp_path / "data"),
                    PAPERCAST_EMBEDDING_MODEL="hashing")
    assert_one_line_error(result, f"{queries} line 3: not UTF-8 text (byte 0xe9 at byte 27 of the line)")


def test_eval_names_a_line_whose_grades_are_not_numbers(tmp_path: Path) -> None:
    queries = tmp_path / "queries.jsonl"
    queries.write_text('{"query": "attention", "relevant": {"1706.03762": "high"}}\n')
    result = invoke(["eval", str(queries)], PAPERCAST_DATA_DIR=str(tmp_path / "data"))
    assert_one_line_error(result, f"{queries} line 1:", "numeric grade")


# Exit statuses, as docs/cli.md lists them.

def test_a_paper_that_is_not_found_exits_with_status_1(tmp_path: Path) -> None:
    result = invoke(["papers", "show", "2401.99999"], PAPERCAST_DATA_DIR=str(tmp_path))
    assert_one_line_error(result, "2401.99999", status=EXIT_PARTIAL)


def test_an_interrupted_command_exits_with_status_130() -> None:
    with pytest.raises(typer.Exit) as stopped, user_errors():
        raise KeyboardInterrupt
    assert stopped.value.exit_code == EXIT_INTERRUPTED


def test_an_unexpected_crash_is_one_line_and_status_2(capsys: pytest.CaptureFixture[str]) -> None:
    def crash() -> None:
        raise RuntimeError("first line of a driver's message\n(Background on this error at: ...)")

    with pytest.raises(SystemExit) as stopped:
        guarded(crash)
    assert stopped.value.code == EXIT_ERROR
    assert capsys.readouterr().err == ("error: unexpected RuntimeError: first line of a driver's message "
                                       "(set PAPERCAST_LOG_LEVEL=DEBUG for details)\n")


def test_as_a_process_a_database_error_is_one_line_and_status_2_without_a_traceback(tmp_path: Path) -> None:
    (tmp_path / "papercast.db").write_text("not a database\n")
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("PAPERCAST_")},
           "PAPERCAST_DATA_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "papercast", "status"], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == EXIT_ERROR
    assert done.stderr == (f"error: {tmp_path / 'papercast.db'} is not a SQLite database; correct "
                           "PAPERCAST_DATA_DIR or move the file away (papercast creates its database "
                           "itself)\n")
