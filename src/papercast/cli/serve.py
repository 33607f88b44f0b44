"""`papercast serve`: the web pages, JSON API and feeds under uvicorn.

The database must be at the schema this code needs: an out-of-date one is refused with the
message of `migrations.require_current` before anything listens. Search is the search service
over this process's index directory; beside the server, a thread keeps that index following the
database (`IndexFollower.catch_up`: the process holding the writer lock indexes, the others
reload) and drains the embedding backlog a batch at a time, unless `--no-worker`. With
`--workers N` each uvicorn process builds its own papercast from the same settings
(`app_from_environment`).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import typer

from papercast.bootstrap import Papercast, build
from papercast.cli.context import fail, load_settings
from papercast.domain.errors import PapercastError
from papercast.settings import Settings

if TYPE_CHECKING:
    from papercast.web.search import SearchBackend

log = logging.getLogger("papercast.serve")
# Tells the processes of `--workers N` (they build their own app) whether to follow the index.
NO_WORKER_VARIABLE = "PAPERCAST_SERVE_NO_WORKER"


FOLLOW_INTERVAL = 2.0
EMBED_PER_ROUND = 64
NEIGHBOURS_PER_ROUND = 1_000  # similar-paper lists per round, in small steps beside the web server


@contextmanager
def background_worker(papercast: Papercast, interval: float = FOLLOW_INTERVAL) -> Iterator[None]:
    """What runs beside the web server for its lifetime: a thread that keeps the search index
    following the database. (The hook for more background work, such as a scheduler.)"""
    stop = threading.Event()
    thread = threading.Thread(target=_follow_index, args=(papercast, stop, interval),
                              name="papercast-index-follower", daemon=True)
    thread.start()
    log.info("worker.start tasks=index-follower interval=%.1f", interval)
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=30)
        log.info("worker.stop")


def _follow_index(papercast: Papercast, stop: threading.Event, interval: float) -> None:
    follower = papercast.index_follower()
    embedding: Any = None
    loaded = False
    while not stop.is_set():
        try:
            # Short rounds, so stopping never waits long: follow the database, then embed a
            # batch (the single-process default has no separate `papercast worker`).
            report = follower.catch_up(max_batches=10)
            if not loaded:
                # Loading the encoder takes seconds (tens on a busy machine): keyword search
                # is brought up to date first.
                embedding, loaded = _embedding_service(papercast), True
            # Only the process that writes the index embeds, so `--workers N` do it once.
            writes = embedding is not None and follower.is_writer
            embedded = embedding.catch_up(limit=EMBED_PER_ROUND).embedded if writes else 0
            # Similar papers wait until the backlog is embedded: a list computed against the
            # whole index is exact, one computed against part of it only learns of the rest
            # through the papers that arrive later.
            similar = 0 if embedded else follower.refresh_neighbours(max_rows=NEIGHBOURS_PER_ROUND)
        except Exception:  # noqa: BLE001 - a failed round is logged and retried; serving goes on
            log.exception("worker.round_failed")
            stop.wait(interval * 5)
            continue
        if not (embedded or similar or report.papers_indexed or report.vectors_indexed):
            stop.wait(interval)


def _embedding_service(papercast: Papercast) -> Any:
    try:
        return papercast.embedding_service()
    except (PapercastError, ImportError, OSError) as error:
        log.warning("worker.embedding_unavailable error=%s; papers are found by keywords only", error)
        return None


def search_backend(papercast: Papercast) -> SearchBackend | None:
    """The search service for the web app, or None (the app then matches the catalog plainly)
    when it cannot be built here; semantic search joins in where an encoder loads."""
    try:
        return papercast.search_service(semantic=True)
    except (PapercastError, ImportError, OSError) as error:
        log.warning("serve.search_semantic_unavailable error=%s", error)
    try:
        return papercast.search_service(semantic=False)
    except (PapercastError, ImportError, OSError) as error:
        log.error("serve.search_unavailable error=%s; serving a plain catalog match", error)
        return None


def register(root: typer.Typer) -> None:
    @root.command("serve")
    def serve(
        host: str = typer.Option("127.0.0.1", help="Address to listen on (0.0.0.0 for every interface)."),
        port: int = typer.Option(8000, min=0, max=65535, help="TCP port."),
        no_worker: bool = typer.Option(False, "--no-worker",
                                       help="Serve only; run no background work in this process."),
        workers: int = typer.Option(1, min=1, max=64, help="uvicorn worker processes."),
    ) -> None:
        """Serve the web pages, the JSON API (/api/v1) and Atom feeds.

        Says "papercast serving on URL" once it accepts connections. Exit status: 0 after a stop
        by Ctrl-C or SIGTERM, 2 when it cannot start (settings, database, schema, an address it
        cannot listen on).
        """
        from papercast.cli.listen import bind

        settings = load_settings()
        papercast = build(settings)  # refuses an out-of-date schema (SchemaOutOfDate)
        try:
            sockets = bind(host, port)  # before anything starts to serve: a taken port is one line
            options = _uvicorn_options(settings, host, port)
            if workers > 1:
                papercast.close()
                os.environ[NO_WORKER_VARIABLE] = "1" if no_worker else ""  # read by each worker process
                _serve_workers(sockets, options, workers)
            else:
                _serve_one(web_app(papercast, follow=not no_worker), sockets, options)
        finally:
            papercast.close()
        typer.echo("papercast stopped", err=True)


def _serve_one(app: Any, sockets: list[socket.socket], options: dict[str, Any]) -> None:
    """Serve `app` in this process until Ctrl-C or SIGTERM; exit status 2 when it cannot start."""
    import uvicorn

    from papercast.cli.listen import AnnouncingServer

    server = AnnouncingServer(uvicorn.Config(app, **options), on_listening=lambda: _say_serving(sockets))
    try:
        server.run(sockets=sockets)
    except SystemExit:
        if server.started:
            raise
        # uvicorn exits when the app's start-up fails; it has logged why.
        fail("the web server could not start (see the messages above)")


def _serve_workers(sockets: list[socket.socket], options: dict[str, Any], workers: int) -> None:
    """`--workers N`: N uvicorn processes on the sockets bound here, each building its own app."""
    import uvicorn

    from papercast.cli.listen import AnnouncingMultiprocess

    config = uvicorn.Config("papercast.cli.serve:app_from_environment", factory=True, workers=workers,
                            **options)
    supervisor = AnnouncingMultiprocess(
        config, sockets, on_listening=lambda: _say_serving(sockets, f" with {workers} processes"))
    supervisor.run()
    if not supervisor.announced:
        fail("the web server processes could not start (see the messages above)")


def _say_serving(sockets: list[socket.socket], detail: str = "") -> None:
    from papercast.cli.listen import address_of

    typer.echo(f"papercast serving on {address_of(sockets)}{detail} (Ctrl-C stops)", err=True)


def web_app(papercast: Papercast, *, follow: bool) -> Any:
    from papercast.web.app import create_app

    worker = (lambda: background_worker(papercast)) if follow else None
    return create_app(papercast, search_backend=search_backend(papercast), worker=worker)


def app_from_environment() -> Any:
    """The app of one uvicorn worker process (`--workers N`), built from PAPERCAST_* settings."""
    return web_app(build(Settings.load()), follow=not os.environ.get(NO_WORKER_VARIABLE))


def _uvicorn_options(settings: Settings, host: str, port: int) -> dict[str, Any]:
    return {
        "host": host, "port": port, "proxy_headers": True,
        "forwarded_allow_ips": settings.web_forwarded_allow_ips,
        "log_level": settings.log_level.lower(), "access_log": settings.log_level.upper() == "DEBUG",
        "server_header": False,
    }
