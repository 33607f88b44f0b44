"""Creating engines for SQLite (WAL, foreign keys, immediate write transactions) and PostgreSQL.

A database URL is checked before use and the database is opened once at creation, so a URL
papercast cannot keep data in, a file that is not a database or a server that cannot be
reached is one message saying what to fix, not a driver's stack trace later.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError

from papercast.domain.errors import DatabaseUnavailable, InvalidInput

SQLITE_BUSY_TIMEOUT_MS = 30_000
# A writer waiting for SQLite's write lock asks again this often (see `_begin_immediate`).
SQLITE_BEGIN_RETRY_S = 0.002
SQLITE_BEGIN_TRY_MS = 2
# A PostgreSQL server that does not answer fails the command after this long, not after the
# operating system's TCP timeout (minutes). `?connect_timeout=SECONDS` in the URL overrides it.
POSTGRES_CONNECT_TIMEOUT_S = 10
DATABASE_URL_SETTING = "PAPERCAST_DATABASE_URL"
SUPPORTED_DATABASE_URLS = "sqlite:///PATH/papercast.db or postgresql+psycopg://USER:PASSWORD@HOST:5432/DATABASE"

log = logging.getLogger("papercast.storage")


def database_url_problem(url: str) -> str | None:
    """What is wrong with `url` as papercast's database (to follow the setting's name), or None.

    Two engines are supported; an in-memory SQLite database is refused because each command
    would write into a database that vanishes when it ends. The URL is never quoted back: it
    may hold a password.
    """
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return f"is not a database URL; use {SUPPORTED_DATABASE_URLS}"
    backend, _, driver = parsed.drivername.partition("+")
    if backend == "sqlite" and driver in ("", "pysqlite"):
        if _in_memory(parsed):
            return ("names an in-memory SQLite database, whose data would vanish when the command "
                    "ends; use sqlite:///PATH/papercast.db, or leave it empty for papercast.db in "
                    "PAPERCAST_DATA_DIR")
        return None
    if backend == "postgresql" and driver in ("", "psycopg"):
        return None
    return f"names {parsed.drivername!r}, which papercast does not support; use {SUPPORTED_DATABASE_URLS}"


def _in_memory(parsed: URL) -> bool:
    database = parsed.database or ""
    return database in ("", ":memory:") or database.startswith("file::memory:") \
        or parsed.query.get("mode") == "memory"


def create_database_engine(url: str, *, setting: str = DATABASE_URL_SETTING,
                           create_directory: bool = False) -> Engine:
    """An open engine for `url`, or an error naming `setting` (where the URL came from).

    A SQLite file's directory must exist unless `create_directory` (the default database in
    the data directory); the file, when it exists, must be a SQLite database. PostgreSQL must
    answer within `POSTGRES_CONNECT_TIMEOUT_S`.
    """
    problem = database_url_problem(url)
    if problem:
        raise InvalidInput(f"{setting} {problem}", field=setting)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        # Absolute, so a message says where a relative path (three slashes) pointed.
        engine = _sqlite_engine(url, Path(parsed.database or "").absolute(), setting, create_directory)
    else:
        engine = _postgresql_engine(parsed)
    _open_once(engine, parsed, setting)
    return engine


def _sqlite_engine(url: str, path: Path, setting: str, create_directory: bool) -> Engine:
    _require_directory(path, setting, create_directory)
    engine = create_engine(url, future=True, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" hook below emit BEGIN itself, so writes can ask for IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        # 64 MiB of page cache (the default is 2 MiB): bulk ingest updates several indexes at once.
        cursor.execute("PRAGMA cache_size=-65536")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        # A write transaction takes the write lock at BEGIN, so two writers queue on the
        # busy timeout instead of failing half-way with "database is locked".
        if connection.get_execution_options().get("write", False):
            _begin_immediate(connection)
        else:
            connection.exec_driver_sql("BEGIN")

    return engine


def _begin_immediate(connection: Connection) -> None:
    """BEGIN IMMEDIATE, asked for again every 2 ms until the busy timeout has passed.

    SQLite's own busy handler sleeps ever longer between tries (up to 100 ms once a writer has
    waited a quarter of a second), so a waiting writer sleeps through the short gaps another
    writer leaves between its transactions, such as ingest's sub-batches, and waits for several
    of them: a vote behind an ingest waited 300-400 ms at p99. Asking often takes the first gap.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    connection.exec_driver_sql(f"PRAGMA busy_timeout={SQLITE_BEGIN_TRY_MS}")
    try:
        while True:
            try:
                connection.exec_driver_sql("BEGIN IMMEDIATE")
                return
            except OperationalError as error:
                if not _is_busy(error) or time.monotonic() >= deadline:
                    raise
            time.sleep(SQLITE_BEGIN_RETRY_S)
    finally:
        connection.exec_driver_sql(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")


def _is_busy(error: OperationalError) -> bool:
    """Whether SQLite refused because another connection holds the lock (SQLITE_BUSY and its
    extended codes), as opposed to any other failure, which is raised at once."""
    code = getattr(error.orig, "sqlite_errorcode", None)
    return code is not None and code & 0xFF == sqlite3.SQLITE_BUSY


def _require_directory(path: Path, setting: str, create: bool) -> None:
    """SQLite would create the file but not its directory; a missing one is usually a typo."""
    directory = path.parent
    if directory.is_dir():
        return
    if directory.exists():
        raise InvalidInput(f"{setting}: {directory}, where the SQLite database {path.name} should be, "
                           "is a file, not a directory", field=setting)
    if not create:
        raise InvalidInput(f"{setting}: the directory {directory} of the SQLite database {path.name} does "
                           "not exist; create it (mkdir -p) or correct the path", field=setting)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InvalidInput(f"{setting}: cannot create the directory {directory}: {error.strerror}",
                           field=setting) from error


def _postgresql_engine(parsed: URL) -> Engine:
    url = parsed.set(drivername="postgresql+psycopg")
    connect_args = {} if "connect_timeout" in url.query else {"connect_timeout": POSTGRES_CONNECT_TIMEOUT_S}
    return create_engine(url, pool_pre_ping=True, future=True, connect_args=connect_args)


def _open_once(engine: Engine, parsed: URL, setting: str) -> None:
    """Connect now, so that every way a database can be unusable is reported at start-up."""
    try:
        with engine.connect():
            pass
    except DBAPIError as error:
        engine.dispose()
        log.debug("db.open_failed", exc_info=True)
        driver_message = str(error.orig or error)
        if parsed.get_backend_name() == "sqlite":
            raise DatabaseUnavailable(_sqlite_problem(Path(parsed.database or "").absolute(), setting,
                                                      driver_message)) from None
        raise DatabaseUnavailable(_postgresql_problem(parsed, driver_message)) from None


def _sqlite_problem(path: Path, setting: str, driver_message: str) -> str:
    if "not a database" in driver_message or "encrypted" in driver_message:
        return (f"{path} is not a SQLite database; correct {setting} or move the file away "
                "(papercast creates its database itself)")
    if "malformed" in driver_message:
        return f"the SQLite database {path} is damaged ({driver_message}); restore it from a backup"
    if "unable to open" in driver_message:
        return (f"cannot open the SQLite database {path}: check that it is a file you may read and "
                f"write, in a directory you may write ({setting})")
    return f"cannot use the SQLite database {path} ({setting}): {_first_line(driver_message)}"


def _postgresql_problem(parsed: URL, driver_message: str) -> str:
    where = f"{parsed.host or 'the local socket'}:{parsed.port or 5432}"
    return f"cannot connect to PostgreSQL at {where}: {_postgresql_reason(parsed, driver_message)} " \
           f"({DATABASE_URL_SETTING})"


def _postgresql_reason(parsed: URL, message: str) -> str:
    """The driver's reason in words a user can act on; its own first line when it is a rarer one."""
    timeout = parsed.query.get("connect_timeout", POSTGRES_CONNECT_TIMEOUT_S)
    reasons = (
        ("Connection refused", "connection refused; is PostgreSQL running there, on that port?"),
        ("failed to resolve host", f"unknown host {parsed.host!r}; check the host name"),
        ("Name or service not known", f"unknown host {parsed.host!r}; check the host name"),
        ("password authentication failed",
         f"password authentication failed for user {parsed.username!r}; check the user and password"),
        ("no password supplied", "the server asks for a password; put it in the URL (USER:PASSWORD@)"),
        (f'database "{parsed.database}" does not exist',
         f"database {parsed.database!r} does not exist; create it (createdb {parsed.database}) or "
         "correct the name"),
        ('role "', f"user {parsed.username!r} does not exist on the server; check the user name"),
        ("timeout expired", f"no answer within {timeout} s; check the host, the port and any firewall"),
        ("no pg_hba.conf entry",
         "the server does not accept this client (pg_hba.conf); ask its administrator"),
        ("No such file or directory", "no server listens on the local socket; is PostgreSQL running?"),
    )
    for marker, reason in reasons:
        if marker in message:
            return reason
    return _first_line(message.removeprefix("connection failed: "))


def _first_line(message: str) -> str:
    return message.strip().splitlines()[0] if message.strip() else "unknown error"


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction that will write: IMMEDIATE on SQLite, a plain one on PostgreSQL."""
    with engine.connect() as connection:
        connection = connection.execution_options(write=True)
        with connection.begin():
            yield connection


def as_utc(value: datetime | None) -> datetime | None:
    """A stored time as an aware UTC datetime: SQLite returns naive ones; papercast stores UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)
