"""Where `papercast serve` listens: the address is bound before uvicorn starts, so a taken port,
a refused one or an unknown host is one line and exit status 2; "serving on" is said only
once the server accepts connections.

uvicorn runs on the sockets bound here (its `Server.run(sockets)` and, for `--workers N`, its
`Multiprocess` supervisor: both public in the pinned uvicorn 0.54).
"""

from __future__ import annotations

import errno
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn
from uvicorn.supervisors import Multiprocess

from papercast.domain.errors import InvalidInput

# uvicorn's own default backlog.
BACKLOG = 2048
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
# How long `--workers N` waits for each process to finish starting before saying it serves.
WORKER_START_TIMEOUT_S = 300.0


def bind(host: str, port: int) -> list[socket.socket]:
    """Listening sockets on every address `host` names (both of `localhost`'s, say) at `port`."""
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as error:
        raise InvalidInput(f"cannot listen on {host}:{port}: {host!r} is neither an address nor a known "
                           f"host name ({error.strerror}); give --host an address of this machine, such as "
                           "127.0.0.1 or 0.0.0.0") from None
    sockets: list[socket.socket] = []
    try:
        for family, kind, protocol, _, address in dict.fromkeys(addresses):
            # With --port 0 the first socket picks a free port; the others take the same one.
            chosen = sockets[0].getsockname()[1] if sockets else port
            sockets.append(_listening_socket(family, kind, protocol, (address[0], chosen, *address[2:])))
    except OSError as error:
        for bound in sockets:
            bound.close()
        raise InvalidInput(listen_problem(host, port, error)) from None
    return sockets


def _listening_socket(family: int, kind: int, protocol: int, address: tuple[Any, ...]) -> socket.socket:
    sock = socket.socket(family, kind, protocol)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does: restart at once
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(address)
        sock.listen(BACKLOG)
        sock.set_inheritable(True)  # the processes of --workers N serve on it
    except OSError:
        sock.close()
        raise
    return sock


def listen_problem(host: str, port: int, error: OSError) -> str:
    """Why `host:port` cannot be listened on, and what to do about it, in one line."""
    where = f"cannot listen on {host}:{port}"
    if error.errno == errno.EADDRINUSE:
        return f"{where}: the port is already in use (another server?); stop it or choose another --port"
    if error.errno == errno.EACCES:
        hint = "; ports below 1024 need root: choose --port 1024 or above" if 0 < port < 1024 else ""
        return f"{where}: permission denied{hint}"
    if error.errno == errno.EADDRNOTAVAIL:
        return (f"{where}: {host} is not an address of this machine; use 127.0.0.1, 0.0.0.0 or one "
                "of its own addresses")
    return f"{where}: {error.strerror or error}"


def address_of(sockets: list[socket.socket]) -> str:
    """The URL of the first socket, with the port it actually got (for --port 0)."""
    host, port = sockets[0].getsockname()[:2]
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


class AnnouncingServer(uvicorn.Server):
    """A uvicorn server that calls `on_listening` once it accepts connections (after the app's
    start-up, e.g. the background worker, has run), and returns after a graceful stop."""

    def __init__(self, config: uvicorn.Config, on_listening: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_listening = on_listening

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            self._on_listening()

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Ctrl-C and SIGTERM stop the server gracefully, and then `run` returns: uvicorn's own
        version raises the signal again afterwards, ending the process as killed."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in STOP_SIGNALS}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


class AnnouncingMultiprocess(Multiprocess):
    """uvicorn's supervisor of `--workers N` processes, calling `on_listening` once every one of
    them has finished starting; `announced` says whether that happened."""

    def __init__(self, config: uvicorn.Config, sockets: list[socket.socket],
                 on_listening: Callable[[], None]) -> None:
        super().__init__(config, sockets=sockets)
        self._on_listening = on_listening
        self.announced = False

    def init_processes(self) -> None:
        super().init_processes()
        if all(process.wait_until_ready(WORKER_START_TIMEOUT_S, self.should_exit)
               for process in self.processes):
            self.announced = True
            self._on_listening()
