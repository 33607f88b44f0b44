"""A real SMTP server on loopback (aiosmtpd) that answers as a test scripts it: chosen replies to RCPT
or to the message per recipient, a dropped connection or a late reply after DATA, a login check,
and TLS with a throwaway certificate."""

from __future__ import annotations

import asyncio
import shutil
import socket
import ssl
import subprocess
from collections import defaultdict, deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

# Scripted answers to the message besides an SMTP reply line:
DROP = "drop"  # take the message, then close the connection without replying
CLOSE_AFTER = "close-after"  # accept the message, then close the connection (an idle timeout)
LATE = "late"  # take the message and reply only after `late_reply_seconds`


@dataclass(frozen=True)
class Received:
    mail_from: str
    recipients: list[str]
    content: bytes

    @property
    def message(self) -> EmailMessage:
        parsed = message_from_bytes(self.content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


class ScriptedHandler:
    """Accepts everything unless told otherwise; `received` holds every message the server took."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.peers: set[tuple[str, int]] = set()
        self.mail_replies: deque[str] = deque()  # answers to the next MAIL FROMs, whoever sends
        self.rcpt_replies: defaultdict[str, deque[str]] = defaultdict(deque)
        self.data_replies: defaultdict[str, deque[str]] = defaultdict(deque)
        self.late_reply_seconds = 2.0

    def copies_of(self, message_id: str) -> int:
        return sum(1 for received in self.received if received.message["Message-ID"] == message_id)

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str,
                          options: list[str]) -> str:
        self.peers.add(session.peer)
        reply = self.mail_replies.popleft() if self.mail_replies else "250 OK"
        if reply.startswith("2"):
            envelope.mail_from = address
        return reply

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          options: list[str]) -> str:
        replies = self.rcpt_replies[address]
        if replies:
            return replies.popleft()
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        replies = self.data_replies[envelope.rcpt_tos[0]]
        reply = replies.popleft() if replies else "250 2.0.0 Ok: queued"
        received = Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content)
        if reply in (DROP, CLOSE_AFTER, LATE) or reply.startswith("2"):
            self.received.append(received)
        if reply == DROP:
            server.transport.close()
        elif reply == CLOSE_AFTER:
            await server.push("250 2.0.0 Ok: queued")
            server.transport.close()
        elif reply == LATE:
            await asyncio.sleep(self.late_reply_seconds)
            return "250 2.0.0 Ok: queued, late"
        return reply if reply not in (DROP, CLOSE_AFTER) else "250 OK"


def free_port() -> int:
    # aiosmtpd cannot listen on port 0 (its start-up check connects to the port it was given).
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def password_checker(user: str, password: str) -> Any:
    def check(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        good = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
            user.encode(), password.encode())
        return AuthResult(success=good, handled=False)  # handled=False: aiosmtpd answers 535 itself

    return check


@contextmanager
def smtp_server(handler: ScriptedHandler, **options: Any) -> Iterator[Controller]:
    """The server on 127.0.0.1 and a free port; `options` go to aiosmtpd (tls_context, authenticator...)."""
    controller = Controller(handler, hostname="127.0.0.1", port=free_port(), ready_timeout=30, **options)
    controller.start()
    try:
        yield controller
    finally:
        controller.stop()


@dataclass(frozen=True)
class Certificate:
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, self.key)
        return context

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.cert))


def make_certificate(folder: Path) -> Certificate:
    """A self-signed certificate for 127.0.0.1 (openssl), valid for two days."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True, timeout=60)
    return Certificate(cert, key)
