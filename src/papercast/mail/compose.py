"""Builds a message: multipart/alternative (text first, HTML last, the part clients prefer), UTF-8
in 7-bit transfer encodings, the headers papercast manages, and safe custom headers.

Plain headers (short printable ASCII) and the bodies are written directly, in the form the
standard library's `email` package writes them; anything else a header holds (non-ASCII, a
display name, a value longer than a line) goes through that package's folding. Building every
message with `EmailMessage` cost half of a digest run's time (bench/digest.py).
"""

from __future__ import annotations

import binascii
import re
import secrets
from collections.abc import Sequence
from datetime import datetime
from email.errors import HeaderParseError, MessageError
from email.headerregistry import Address
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
CRLF = "\r\n"
MAX_LINE = 78  # RFC 5322 2.1.1's recommended line length, where the standard folding starts
# A value written as it is: printable ASCII words separated by single spaces, nothing the standard
# folding would change (no encoded-word opener `=?`, which a reader would decode).
_PLAIN_VALUE = re.compile(r"[!-~]+(?: [!-~]+)*")


class _MessagePolicy(EmailPolicy):
    """The SMTP policy, except that `ONE_LINE_HEADERS` with ASCII values are never folded."""

    def fold_binary(self, name: str, value: Any) -> bytes:
        text = str(value)
        fits = len(name) + 2 + len(text) <= MAX_HEADER_LINE
        if name.lower() in ONE_LINE_HEADERS and text.isascii() and fits:
            return f"{name}: {text}{self.linesep}".encode("ascii")
        return super().fold_binary(name, value)


# RFC 5322 line endings and 7-bit transfer encodings (quoted-printable for non-ASCII text or long
# lines): the stored message is plain ASCII that any relay accepts, with or without 8BITMIME.
MESSAGE_POLICY = _MessagePolicy(linesep=SMTP.linesep, cte_type="7bit")


def compose_message(*, sender: MailAddress, recipient: MailAddress, mail: RenderedMail, message_id: str,
                    date: datetime, headers: Sequence[tuple[str, str]] = ()) -> str:
    """The whole message as ASCII text; InvalidInput naming the header or part that cannot be built."""
    lines = [
        address_header("From", sender),
        address_header("To", recipient),
        header_line("Subject", require_clean_header("Subject", mail.subject)),
        header_line("Date", format_datetime(date)),
        header_line("Message-ID", require_clean_header("Message-ID", message_id)),
        # RFC 3834: automatic mail; auto-responders (vacation replies) stay quiet.
        header_line("Auto-Submitted", "auto-generated"),
    ]
    for name, value in headers:
        require_clean_header(name, value)
        if name.lower() in MANAGED_HEADERS:
            raise InvalidInput(f"{name} is set by papercast and cannot be given as a custom header",
                               field=name)
        lines.append(header_line(name, value))
    parts = [_text_part("plain", mail.text), _text_part("html", mail.html)]
    boundary = _boundary(parts)
    lines.append("MIME-Version: 1.0" + CRLF)
    lines.append(f'Content-Type: multipart/alternative;{CRLF} boundary="{boundary}"{CRLF}')
    lines.append(CRLF)
    # The line end before a delimiter belongs to the delimiter (RFC 2046 5.1.1), so each part's
    # own last line end stays part of its content.
    lines.append(f"--{boundary}{CRLF}")
    lines.append(f"{CRLF}--{boundary}{CRLF}".join(parts))
    lines.append(f"{CRLF}--{boundary}--{CRLF}")
    return "".join(lines)


def header_line(name: str, value: str) -> str:
    """`Name: value` and its line end(s), folded as the standard library folds it when needed."""
    if len(name) + 2 + len(value) <= MAX_LINE and "=?" not in value \
            and _PLAIN_VALUE.fullmatch(value):
        return f"{name}: {value}{CRLF}"
    try:
        folded = MESSAGE_POLICY.fold_binary(*MESSAGE_POLICY.header_store_parse(name, value))
        return folded.decode("ascii")
    except (MessageError, HeaderParseError, ValueError) as error:
        raise InvalidInput(f"cannot write the {name} header: {error}", field=name) from error


def address_header(name: str, mailbox: MailAddress) -> str:
    """An address header; a display name is quoted or encoded as the standard library does it."""
    if not mailbox.display_name:
        return header_line(name, mailbox.address)
    return header_line(name, str(Address(display_name=mailbox.display_name, addr_spec=mailbox.address)))


def _text_part(subtype: str, text: str) -> str:
    """A text part with its headers: 7bit when it is ASCII in lines of at most 78 characters,
    quoted-printable otherwise (as `EmailMessage.set_content` chooses for text like ours)."""
    lines = text.encode("utf-8").splitlines()
    ascii_lines = all(len(line) <= MAX_LINE for line in lines) and text.isascii()
    body = b"\r\n".join(lines) + b"\r\n"
    if ascii_lines:
        encoding, encoded = "7bit", body.decode("ascii")
    else:
        encoding = "quoted-printable"
        encoded = binascii.b2a_qp(body, quotetabs=False, istext=True, header=False).decode("ascii")
    return (f'Content-Type: text/{subtype}; charset="utf-8"{CRLF}'
            f"Content-Transfer-Encoding: {encoding}{CRLF}{CRLF}{encoded}")


def _boundary(parts: Sequence[str]) -> str:
    """A boundary that no line of the parts begins with (a 7bit body is the sender's text)."""
    while True:
        boundary = f"==============={secrets.token_hex(12)}=="
        if not any(f"--{boundary}" in part for part in parts):
            return boundary
