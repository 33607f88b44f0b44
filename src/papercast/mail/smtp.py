"""Sending through an SMTP server with `smtplib`: one connection per run, every reply classified.

The transaction is driven command by command (MAIL, RCPT, DATA, the message, the reply) rather
than through `sendmail`, because what a broken connection means depends on when it broke:
before the message was sent it was not delivered; after the message and before the reply it
may have been (RFC 1047), so it is retried and may arrive twice.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import smtplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass

from papercast.domain.mail import DeliveryFailed, Envelope, FailureKind, Receipt, classify_reply

log = logging.getLogger("papercast.mail.smtp")

DEFAULT_PORTS = {"none": 25, "starttls": 587, "tls": 465}
_LINE_END = re.compile(rb"\r\n|\r|\n")
_LEADING_DOT = re.compile(rb"^\.", re.MULTILINE)


@dataclass(frozen=True)
class SmtpConfig:
    """Where and how to connect; `port` 0 picks the usual port for `security`."""

    host: str
    port: int = 0
    security: str = "starttls"
    user: str = ""
    password: str = ""
    timeout: float = 30.0

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port or DEFAULT_PORTS[self.security]}"


class SmtpMailer:
    """Opens `SmtpSession`s to one server; certificates are checked with `ssl_context` (the system's)."""

    def __init__(self, config: SmtpConfig, ssl_context: ssl.SSLContext | None = None) -> None:
        if config.security not in DEFAULT_PORTS:
            raise ValueError(f"unknown SMTP security {config.security!r}")
        self.config = config
        self._ssl_context = ssl_context or ssl.create_default_context()
        if config.user and config.security == "none" and not _is_loopback(config.host):
            log.warning("mail.smtp.plaintext_login host=%s: the SMTP password crosses the network "
                        "unencrypted; set PAPERCAST_SMTP_SECURITY to starttls or tls", config.host)

    def session(self) -> SmtpSession:
        return SmtpSession(self.config, self._ssl_context)


class SmtpSession:
    """One SMTP connection, opened at the first message, reused, and reopened after the server closed it."""

    def __init__(self, config: SmtpConfig, ssl_context: ssl.SSLContext) -> None:
        self._config = config
        self._ssl_context = ssl_context
        self._smtp: smtplib.SMTP | None = None

    def deliver(self, envelope: Envelope) -> Receipt:
        payload = _data_payload(envelope)
        reused = self._smtp is not None
        try:
            return self._transaction(self._connection(), envelope, payload)
        except _ClosedBeforeMail as closed:
            if not reused:
                raise closed.failure from None
        # The server closed the connection while it sat idle between two messages: open another.
        log.info("mail.smtp.reconnect server=%s", self._config.address)
        try:
            return self._transaction(self._connection(), envelope, payload)
        except _ClosedBeforeMail as closed:
            raise closed.failure from None

    def close(self) -> None:
        if self._smtp is None:
            return
        try:
            self._smtp.quit()
        except (smtplib.SMTPException, OSError) as error:
            log.debug("mail.smtp.quit_failed server=%s error=%s", self._config.address, error)
        self._drop()

    def _transaction(self, smtp: smtplib.SMTP, envelope: Envelope, payload: bytes) -> Receipt:
        code, reply = self._command(smtp.mail, envelope.sender, "MAIL FROM")
        if code == 421:
            # The server is closing the connection (an idle timeout, or it is going down) before
            # this message began: no fault of the message.
            self._drop()
            raise _ClosedBeforeMail(DeliveryFailed(
                FailureKind.UNREACHABLE, f"MAIL FROM answered {code} {_text(reply)}", code))
        self._expect(code, reply, "MAIL FROM", 250)
        code, reply = self._command(smtp.rcpt, envelope.recipient, "RCPT TO")
        self._expect(code, reply, f"RCPT TO {envelope.recipient}", 250, 251)
        code, reply = self._command(smtp.docmd, "DATA", "DATA")
        self._expect(code, reply, "DATA", 354)
        try:
            smtp.send(payload)
        except smtplib.SMTPServerDisconnected as error:
            # The end-of-data line never left: the server cannot have accepted the message.
            self._drop()
            raise DeliveryFailed(FailureKind.TEMPORARY,
                                 f"connection lost while sending the message: {error}") from error
        try:
            code, reply = smtp.getreply()
        except smtplib.SMTPServerDisconnected as error:
            self._drop()
            raise DeliveryFailed(FailureKind.UNKNOWN_OUTCOME,
                                 f"connection lost after the message was sent, before the reply: {error}") \
                from error
        self._expect(code, reply, "the message", 250)
        return Receipt(code, _text(reply))

    def _command(self, command: Callable[[str], tuple[int, bytes]], argument: str,
                 stage: str) -> tuple[int, bytes]:
        """A command before the message was sent: a broken connection there means not delivered."""
        try:
            return command(argument)
        except smtplib.SMTPServerDisconnected as error:
            self._drop()
            if stage == "MAIL FROM":
                raise _ClosedBeforeMail(DeliveryFailed(
                    FailureKind.UNREACHABLE, f"{self._config.address} closed the connection before "
                    f"MAIL FROM: {error}")) from error
            raise DeliveryFailed(FailureKind.TEMPORARY, f"connection lost at {stage}: {error}") from error
        except (smtplib.SMTPNotSupportedError, UnicodeEncodeError) as error:
            self._reset()
            raise DeliveryFailed(FailureKind.PERMANENT, f"{stage} cannot be sent: {error}") from error

    def _expect(self, code: int, reply: bytes, stage: str, *accepted: int) -> None:
        if code in accepted:
            return
        kind = classify_reply(code) or FailureKind.PERMANENT  # an unexpected 2xx/3xx is a broken server
        if code == 421:  # "service not available, closing transmission channel"
            self._drop()
        else:
            self._reset()
        raise DeliveryFailed(kind, f"{stage} answered {code} {_text(reply)}", code)

    def _connection(self) -> smtplib.SMTP:
        if self._smtp is None:
            self._smtp = self._connect()
        return self._smtp

    def _connect(self) -> smtplib.SMTP:
        config = self._config
        port = config.port or DEFAULT_PORTS[config.security]
        smtp: smtplib.SMTP | None = None
        try:
            if config.security == "tls":
                smtp = smtplib.SMTP_SSL(config.host, port, timeout=config.timeout, context=self._ssl_context)
            else:
                smtp = smtplib.SMTP(config.host, port, timeout=config.timeout)
            smtp.ehlo_or_helo_if_needed()
            if config.security == "starttls":
                smtp.starttls(context=self._ssl_context)
                smtp.ehlo()
            if config.user:
                smtp.login(config.user, config.password)
        except smtplib.SMTPAuthenticationError as error:
            _close_quietly(smtp)
            raise DeliveryFailed(FailureKind.UNREACHABLE, f"{config.address} refused the login of "
                                 f"{config.user!r}: {error.smtp_code} {_text(error.smtp_error)}",
                                 error.smtp_code) from error
        except (smtplib.SMTPException, OSError) as error:  # ssl.SSLError and timeouts are OSErrors
            _close_quietly(smtp)
            code = getattr(error, "smtp_code", None)
            raise DeliveryFailed(FailureKind.UNREACHABLE, f"cannot open an SMTP session with "
                                 f"{config.address} ({config.security}): {_describe(error)}", code) from error
        return smtp

    def _reset(self) -> None:
        """Abandon the current transaction (RSET) so the connection can carry the next message."""
        if self._smtp is None:
            return
        try:
            self._smtp.rset()
        except (smtplib.SMTPException, OSError):
            self._drop()

    def _drop(self) -> None:
        _close_quietly(self._smtp)
        self._smtp = None


class _ClosedBeforeMail(Exception):
    """The connection was found closed when a transaction began; `failure` if no other can be opened."""

    def __init__(self, failure: DeliveryFailed) -> None:
        super().__init__(failure.detail)
        self.failure = failure


def _data_payload(envelope: Envelope) -> bytes:
    """The message as DATA carries it: CRLF line ends, leading dots doubled, ended by `.`."""
    try:
        data = _LINE_END.sub(b"\r\n", envelope.message.encode("ascii"))
    except UnicodeEncodeError as error:
        raise DeliveryFailed(FailureKind.PERMANENT, f"the message is not ASCII: {error}") from error
    data = _LEADING_DOT.sub(b"..", data)
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    return data + b".\r\n"


def _close_quietly(smtp: smtplib.SMTP | None) -> None:
    if smtp is not None:
        try:
            smtp.close()
        except OSError as error:
            log.debug("mail.smtp.close_failed error=%s", error)


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply


def _describe(error: BaseException) -> str:
    if isinstance(error, smtplib.SMTPResponseException):
        return f"{error.smtp_code} {_text(error.smtp_error)}"
    return str(error) or type(error).__name__


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
