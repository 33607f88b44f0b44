"""What every command shares: loading settings, building papercast, and reporting errors."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import NoReturn, TypeVar

import typer

from papercast.bootstrap import Papercast, build
from papercast.domain.errors import NotFound, PapercastError
from papercast.settings import Settings

T = TypeVar("T")

# Exit statuses: 0 ok, 1 done but something was rejected or failed, 2 the command could not run.
EXIT_PARTIAL = 1
EXIT_ERROR = 2

log = logging.getLogger("papercast.cli")


def load_settings() -> Settings:
    try:
        return Settings.load()
    except PapercastError as error:
        fail(str(error))


def configure_logging(settings: Settings | None = None) -> None:
    level = getattr(logging, (settings.log_level if settings else "INFO").upper(), logging.INFO)
    logging.basicConfig(level=level, stream=sys.stderr, format="%(levelname)s %(name)s %(message)s")
    # The CLI prints its own summaries; library chatter stays at WARNING.
    for noisy in ("alembic", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


@contextmanager
def papercast_app() -> Iterator[Papercast]:
    """Build papercast for one command and close it afterwards, turning errors into messages."""
    settings = load_settings()
    with user_errors():
        app = build(settings)
    try:
        with user_errors():
            yield app
    finally:
        app.close()


@contextmanager
def user_errors() -> Iterator[None]:
    """Report papercast's own errors as one line on stderr, never as a stack trace."""
    try:
        yield
    except NotFound as error:
        fail(str(error), EXIT_PARTIAL)
    except PapercastError as error:
        fail(str(error))
    except KeyboardInterrupt:
        fail("interrupted; everything committed so far is kept", 130)


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
        typer.echo(f"error: unexpected {type(error).__name__}: {error} "
                   "(set PAPERCAST_LOG_LEVEL=DEBUG for details)", err=True)
        raise SystemExit(EXIT_ERROR) from None
