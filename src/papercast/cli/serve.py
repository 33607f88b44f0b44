"""`papercast serve`: the web pages, JSON API and feeds under uvicorn.

The database must be at the schema this code needs: an out-of-date one is refused with the
message of `migrations.require_current` before anything listens. Search is the search service
over this process's index directory. Unless `--no-worker`, the app's lifespan runs a worker
(`papercast.worker`) on a thread beside the server: it keeps that index following the database
and runs jobs, as `papercast worker` does; the app's shutdown stops it. With `--workers N` each
uvicorn process builds its own papercast from the same settings (`app_from_environment`) and
runs its own worker.
"""

from __future__ import annotations

import os
import socket
from typing import Any

import typer

from papercast.bootstrap import Papercast, build
from papercast.cli.context import fail, load_settings
from papercast.settings import Settings

# Tells the processes of `--workers N` (they build their own app) whether to follow the index.
NO_WORKER_VARIABLE = "PAPERCAST_SERVE_NO_WORKER"


def register(root: typer.Typer) -> None:
    @root.command("serve")
    def serve(
        host: str = typer.Option("127.0.0.1", help="Address to listen on (0.0.0.0 for every interface)."),
        port: int = typer.Option(8000, min=0, max=65535, help="TCP port."),
        no_worker: bool = typer.Option(False, "--no-worker",
                                       help="Serve only; run no worker (jobs, index following) "
                                            "in this process."),
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
    """The app `serve` runs: what `papercast` wires for serving (`served_web`), and with `follow`
    a worker beside it."""
    from papercast.web.app import create_app

    return create_app(papercast.served_web(with_worker=follow))


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
