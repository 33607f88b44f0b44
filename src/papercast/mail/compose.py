"""Builds a message with the standard library's `EmailMessage`: multipart/alternative (text first,
HTML last, the part clients prefer), UTF-8, the headers papercast manages, and safe custom headers.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from email.errors import MessageError
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP, EmailPolicy
from email.utils import format_datetime
from typing import Any

from papercast.domain.errors import InvalidInput
from papercast.domain.mail import MANAGED_HEADERS, MailAddress, require_clean_header
from papercast.mail.render import RenderedMail

# Headers written on one line as they are: mail providers read their URLs (RFC 8058), and the
# standard folding turns a URL longer than a line into encoded words no provider decodes
# (folding it at all has broken DKIM for relays that sign later: reliability.md E13). A
# Message-ID longer than a line (a digest's, with a large subscriber id) would be folded before
# its `<`, and receivers that compare ids to drop duplicates then see a leading space.
ONE_LINE_HEADERS = frozenset({"list-unsubscribe", "list-unsubscribe-post", "message-id"})
MAX_HEADER_LINE = 998  # RFC 5322 2.1.1, without the CRLF


class _MessagePolicy(EmailPolicy):
    """The SMTP policy, except that `ONE_LINE_HEADERS` with ASCII values are never folded."""

    def fold_binary(self, name: str, value: Any) -> bytes:
        text = str(value)
        fits = len(name) + 2 + len(text) <= MAX_HEADER_LINE
        if name.lower() in ONE_LINE_HEADERS and text.isascii() and fits:
            return f"{name}: {text}{self.linesep}".encode("ascii")
        return super().fold_binary(name, value)


# RFC 5322 line endings and 7-bit transfer encodings (quoted-printable or base64 for non-ASCII
# text): the stored message is plain ASCII that any relay accepts, with or without 8BITMIME.
MESSAGE_POLICY = _MessagePolicy(linesep=SMTP.linesep, cte_type="7bit")


def compose_message(*, sender: MailAddress, recipient: MailAddress, mail: RenderedMail, message_id: str,
                    date: datetime, headers: Sequence[tuple[str, str]] = ()) -> str:
    """The whole message as ASCII text; InvalidInput naming the header or part that cannot be built."""
    message = EmailMessage(policy=MESSAGE_POLICY)
    message["From"] = _address(sender)
    message["To"] = _address(recipient)
    message["Subject"] = require_clean_header("Subject", mail.subject)
    message["Date"] = format_datetime(date)
    message["Message-ID"] = require_clean_header("Message-ID", message_id)
    # RFC 3834: automatic mail; auto-responders (vacation replies) stay quiet.
    message["Auto-Submitted"] = "auto-generated"
    for name, value in headers:
        require_clean_header(name, value)
        if name.lower() in MANAGED_HEADERS:
            raise InvalidInput(f"{name} is set by papercast and cannot be given as a custom header",
                               field=name)
        message[name] = value
    message.set_content(mail.text)
    message.add_alternative(mail.html, subtype="html")
    for part in message.iter_parts():
        # `add_alternative` builds its part as a whole message, with a MIME-Version of its own.
        del part["MIME-Version"]
    try:
        return message.as_bytes().decode("ascii")
    except (MessageError, ValueError) as error:
        raise InvalidInput(f"cannot build the message {message_id}: {error}", field="message") from error


def _address(mailbox: MailAddress) -> Address:
    return Address(display_name=mailbox.display_name, addr_spec=mailbox.address)
