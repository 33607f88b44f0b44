"""What every command shares: loading settings, building papercast, and reporting errors.

`PapercastGroup` puts every command inside one error boundary (`user_errors`); `guarded` is
the last line of defence around the whole program.
"""

from __future__ import annotations

import errno
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn, TypeVar

import typer
from typer.core import TyperGroup

from papercast.bootstrap import Papercast, build
from papercast.clock import Clock
from papercast.domain.errors import NotFound, PapercastError
from papercast.settings import Settings

T = TypeVar("T")

# Exit statuses (docs/cli.md): 0 ok, 1 done but something was rejected, failed or not found,
# 2 the command could not run (bad settings or arguments, unusable database, a crash), 130
# interrupted.
EXIT_PARTIAL = 1
EXIT_ERROR = 2
EXIT_INTERRUPTED = 130

log = logging.getLogger("papercast.cli")


def load_settings() -> Settings:
    try:
        return Settings.load()
    except PapercastError as error:
        fail(str(error))


def configure_logging(settings: Settings | None = None) -> None:
    level = getattr(logging, settings.log_level if settings else "INFO")
    logging.basicConfig(level=level, stream=sys.stderr, format="%(levelname)s %(name)s %(message)s")
    # The CLI prints its own summaries; library chatter stays at WARNING.
    for noisy in ("alembic", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


@contextmanager
def papercast_app(clock: Clock | None = None) -> Iterator[Papercast]:
    """Build papercast for one command (on `clock`, else the system's) and close it afterwards,
    turning errors into messages."""
    settings = load_settings()
    with user_errors():
        app = build(settings, clock)
    try:
        with user_errors():
            yield app
    finally:
        app.close()


@contextmanager
def user_errors() -> Iterator[None]:
    """Report papercast's own errors, and files the system refused, as one line on stderr."""
    try:
        yield
    except NotFound as error:
        fail(str(error), EXIT_PARTIAL)
    except PapercastError as error:
        fail(str(error))
    except OSError as error:
        if error.filename is None:
            raise
        # A file or directory the system refused (permissions, a full disk, a file where a
        # directory should be): the user can act on it, so no "unexpected" crash report.
        log.debug("os error", exc_info=True)
        fail(_os_problem(error))
    except KeyboardInterrupt:
        fail("interrupted; everything committed so far is kept", EXIT_INTERRUPTED)


class PapercastGroup(TyperGroup):
    """The command group whose every command, and its start-up callback, runs in `user_errors`."""

    # `Any`: the Context this overrides is typer's vendored click one, which has no public name.
    def invoke(self, ctx: Any) -> Any:
        with user_errors():
            return super().invoke(ctx)


# What to do about the file errors a user meets most.
_OS_ADVICE = {
    errno.EACCES: "check its owner and permissions",
    errno.EPERM: "check its owner and permissions",
    errno.EEXIST: "a file is where papercast needs a directory; move it away",
    errno.ENOTDIR: "a file is where papercast needs a directory; move it away",
    errno.ENOSPC: "free some space on that disk",
    errno.EROFS: "the file system is read-only; point PAPERCAST_DATA_DIR elsewhere",
}


def _os_problem(error: OSError) -> str:
    advice = _OS_ADVICE.get(error.errno or 0)
    return f"cannot use {error.filename}: {error.strerror or error}" + (f"; {advice}" if advice else "")


def fail(message: str, status: int = EXIT_ERROR) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(status)


def guarded(function: Callable[[], T]) -> T:
    """Run `function`, turning an unexpected crash into a one-line message and exit status 2."""
    try:
        return function()
    except (typer.Exit, SystemExit):
        raise
    except Exception as error:  # noqa: BLE001 - the last line of defence before the user
        log.debug("unexpected error", exc_info=True)
        # Outside the typer app a `typer.Exit` would itself end in a traceback: exit directly.
        # One line: drivers' messages run to several (SQLAlchemy adds a "Background" link).
        first_line = (str(error).strip().splitlines() or [""])[0]
        typer.echo(f"error: unexpected {type(error).__name__}: {first_line} "
                   "(set PAPERCAST_LOG_LEVEL=DEBUG for details)", err=True)
        raise SystemExit(EXIT_ERROR) from None
