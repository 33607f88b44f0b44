"""Builds a message with the standard library's `EmailMessage`: multipart/alternative (text first,
HTML last, the part clients prefer), UTF-8, the headers papercast manages, and safe custom headers.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from email.errors import MessageError
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime

from papercast.domain.errors import InvalidInput
from papercast.domain.mail import MANAGED_HEADERS, MailAddress, require_clean_header
from papercast.mail.render import RenderedMail

# RFC 5322 line endings and 7-bit transfer encodings (quoted-printable or base64 for non-ASCII
# text): the stored message is plain ASCII that any relay accepts, with or without 8BITMIME.
MESSAGE_POLICY = SMTP.clone(cte_type="7bit")


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
