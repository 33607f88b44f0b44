"""Queueing mail: render the template, build the message with a stable Message-ID, and insert it into
the outbox in the caller's transaction, so it commits with the change that causes it.
"""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

from sqlalchemy import Connection, Engine

from papercast.clock import Clock
from papercast.domain.mail import MailRequest, PreparedMail, QueuedMail, outbox_message_id, parse_mailbox
from papercast.mail.compose import compose_message
from papercast.mail.render import MailRenderer
from papercast.storage.engine import write_transaction
from papercast.storage.outbox import delete_mail_to, enqueue_mail


class TemplatedMailQueue:
    """Turns `MailRequest`s into outbox rows (the `MailQueue` port)."""

    def __init__(self, engine: Engine, renderer: MailRenderer, clock: Clock, *, mail_from: str,
                 base_url: str) -> None:
        self._engine = engine
        self._renderer = renderer
        self._clock = clock
        self._sender = parse_mailbox(mail_from, "PAPERCAST_MAIL_FROM")
        self._host = message_id_host(base_url, self._sender.domain)

    def enqueue(self, connection: Connection, request: MailRequest) -> QueuedMail | None:
        """Queue `request` inside `connection`'s transaction; None when its idempotency key is queued already.

        Every error (a bad address, a template that fails, a header with a line break) is
        InvalidInput raised before anything is written.
        """
        prepared = self.prepare(request)
        outbox_id = enqueue_mail(connection, prepared, self._clock.now())
        return None if outbox_id is None else QueuedMail(outbox_id, prepared.message_id)

    def forget_recipient(self, connection: Connection, address: str) -> int:
        """Delete every message to `address`, sent or not, in `connection`'s transaction (an
        account deleted takes its address out of the outbox too); how many."""
        return delete_mail_to(connection, address)

    def submit(self, request: MailRequest) -> QueuedMail | None:
        """Queue `request` in a transaction of its own (when no other change goes with it)."""
        with write_transaction(self._engine) as connection:
            return self.enqueue(connection, request)

    def prepare(self, request: MailRequest) -> PreparedMail:
        """The rendered message; Message-ID and Date are fixed now, so every attempt sends the same bytes."""
        recipient = parse_mailbox(request.to, "to")
        rendered = self._renderer.render(request.template, {"to": recipient.address, **request.context})
        # An idempotency key names the message for good; otherwise a random token keeps it unique.
        key = request.idempotency_key or secrets.token_hex(8)
        message_id = outbox_message_id(request.template, key, self._host)
        message = compose_message(sender=self._sender, recipient=recipient, mail=rendered,
                                  message_id=message_id, date=self._clock.now(), headers=request.headers)
        return PreparedMail(kind=request.template, message_id=message_id, sender=self._sender.address,
                            recipient=recipient.address, subject=rendered.subject, message=message,
                            idempotency_key=request.idempotency_key, not_after=request.not_after)


def message_id_host(base_url: str, sender_domain: str) -> str:
    """The right-hand side of Message-IDs: the public host name, else the sender's domain."""
    host = urlsplit(base_url).hostname if base_url else None
    return host or sender_domain
