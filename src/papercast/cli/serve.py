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
from typing import Any

import typer

from papercast.bootstrap import Papercast, build
from papercast.cli.context import load_settings, user_errors
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
        """Serve the web pages, the JSON API (/api/v1) and Atom feeds."""
        import uvicorn

        settings = load_settings()
        with user_errors():
            papercast = build(settings)  # refuses an out-of-date schema (SchemaOutOfDate)
        options = _uvicorn_options(settings, host, port)
        if workers > 1:
            papercast.close()
            os.environ[NO_WORKER_VARIABLE] = "1" if no_worker else ""  # read by each worker process
            uvicorn.run("papercast.cli.serve:app_from_environment", factory=True, workers=workers, **options)
            return
        typer.echo(f"papercast serving on http://{host}:{port}/ (Ctrl-C stops)", err=True)
        try:
            with user_errors():  # a worker task module that does not load, say
                app = web_app(papercast, follow=not no_worker)
            uvicorn.run(app, **options)
        finally:
            papercast.close()


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
