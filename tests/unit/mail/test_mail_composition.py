"""Templates rendered to messages: autoescaping, links from the base URL, MIME structure, and header
injection refused on every path a header value takes (template subject, To, From, custom headers)."""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_string, policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jinja2 import DictLoader
from sqlalchemy import create_engine

from papercast.domain.errors import InvalidInput
from papercast.domain.mail import MailAddress, MailRequest
from papercast.mail.compose import MESSAGE_POLICY, compose_message
from papercast.mail.queue import TemplatedMailQueue, message_id_host
from papercast.mail.render import MailRenderer, RenderedMail
from support.clock import ManualClock

TEMPLATES = {
    "note/subject.txt": "{{ title }}\n",
    "note/body.txt": "Hello {{ name }},\n{% if link %}\nsee {{ url(link) }}\n{% endif %}\n",
    "note/body.html": "<p>Hello {{ name }}, <a href=\"{{ url(link or '/') }}\">here</a></p>\n",
    "tracked/subject.txt": "Tracked",
    "tracked/body.txt": "text",
    "tracked/body.html": "<p>hi</p><img src=\"https://tracker.example/pixel.gif\">",
    "partial/subject.txt": "Only a subject",
}
CONTEXT = {"title": "New papers", "name": "Ada <& Co>", "link": "/papers/2401.01234"}


def renderer(base_url: str = "https://papers.example.org/") -> MailRenderer:
    return MailRenderer(base_url, DictLoader(TEMPLATES))


def queue(mail_from: str = "Papercast <papers@example.org>", base_url: str = "https://papers.example.org",
          templates: MailRenderer | None = None) -> TemplatedMailQueue:
    return TemplatedMailQueue(create_engine("sqlite://"), templates or renderer(base_url), ManualClock(),
                              mail_from=mail_from, base_url=base_url)


def parsed(text: str) -> EmailMessage:
    message = message_from_string(text, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def test_html_is_autoescaped_and_text_is_not() -> None:
    rendered = renderer().render("note", CONTEXT)
    assert rendered.subject == "New papers"
    assert "Hello Ada <& Co>," in rendered.text
    assert "Hello Ada &lt;&amp; Co&gt;," in rendered.html


def test_links_are_built_from_the_base_url() -> None:
    rendered = renderer("https://papers.example.org/").render("note", CONTEXT)
    assert "see https://papers.example.org/papers/2401.01234" in rendered.text
    assert 'href="https://papers.example.org/papers/2401.01234"' in rendered.html


def test_a_link_without_a_base_url_is_an_error_naming_the_setting() -> None:
    with pytest.raises(InvalidInput, match="note/body.txt: PAPERCAST_BASE_URL is not set"):
        renderer("").render("note", CONTEXT)


def test_a_missing_variable_or_part_or_template_names_the_template() -> None:
    with pytest.raises(InvalidInput, match="mail template note/subject.txt: 'title' is undefined"):
        renderer().render("note", {"name": "Ada", "link": ""})
    with pytest.raises(InvalidInput, match="no mail template partial/body.txt"):
        renderer().render("partial", {})
    with pytest.raises(InvalidInput, match="no mail template absent/subject.txt"):
        renderer().render("absent", {})
    with pytest.raises(InvalidInput, match="not a mail template name"):
        renderer().render("../etc", {})


def test_remote_images_are_refused() -> None:
    with pytest.raises(InvalidInput, match="tracked/body.html loads a remote resource"):
        renderer().render("tracked", {})


def test_a_subject_variable_holding_a_line_break_is_refused() -> None:
    with pytest.raises(InvalidInput, match="Subject holds a line break"):
        renderer().render("note", {**CONTEXT, "title": "Papers\r\nBcc: victim@example.org"})


def test_a_recipient_holding_a_line_break_is_refused() -> None:
    with pytest.raises(InvalidInput, match="to holds a line break"):
        queue().prepare(MailRequest(to="reader@example.org\r\nBcc: victim@example.org", template="note",
                                    context=CONTEXT))


def test_a_from_setting_holding_a_line_break_is_refused_naming_the_setting() -> None:
    with pytest.raises(InvalidInput, match="PAPERCAST_MAIL_FROM holds a line break"):
        queue(mail_from="papers@example.org\nBcc: victim@example.org")


@pytest.mark.parametrize("value", ["<https://x.example/u/1>\r\nBcc: victim@example.org", "one\ntwo",
                                   "nul\x00"])
def test_a_custom_header_holding_a_line_break_is_refused(value: str) -> None:
    request = MailRequest(to="reader@example.org", template="note", context=CONTEXT,
                          headers=(("List-Unsubscribe", value),))
    with pytest.raises(InvalidInput, match="List-Unsubscribe holds a line break or control character"):
        queue().prepare(request)


@pytest.mark.parametrize("name", ["From", "to", "Message-ID", "Content-Type", "MIME-Version"])
def test_custom_headers_cannot_replace_the_ones_papercast_writes(name: str) -> None:
    request = MailRequest(to="reader@example.org", template="note", context=CONTEXT, headers=((name, "x"),))
    with pytest.raises(InvalidInput, match="is set by papercast"):
        queue().prepare(request)


def test_a_message_is_multipart_alternative_text_first_html_last_in_utf8() -> None:
    request = MailRequest(to="Zoë Reader <zoe@example.org>", template="note",
                          context={**CONTEXT, "title": "Neue Artikel für Zoë", "name": "Zoë"},
                          headers=(("List-Id", "Daily papers <daily.papers.example.org>"),))
    prepared = queue().prepare(request)
    assert prepared.message.isascii()
    message = parsed(prepared.message)
    assert message.get_content_type() == "multipart/alternative"
    parts = list(message.iter_parts())
    assert [part.get_content_type() for part in parts] == ["text/plain", "text/html"]
    assert all(part.get_content_charset() == "utf-8" for part in parts)
    assert "Hello Zoë," in parts[0].get_content()
    assert "Hello Zoë," in parts[1].get_content()
    assert message["Subject"] == "Neue Artikel für Zoë"
    assert message["From"] == "Papercast <papers@example.org>"
    assert message["To"] == "Zoë Reader <zoe@example.org>"
    assert message["Message-ID"] == prepared.message_id
    assert message["MIME-Version"] == "1.0"
    assert message["Date"] == "Thu, 03 Dec 2026 16:00:00 +0000"  # the manual clock's start
    assert message["List-Id"] == "Daily papers <daily.papers.example.org>"
    assert message["Auto-Submitted"] == "auto-generated"
    assert (prepared.sender, prepared.recipient) == ("papers@example.org", "zoe@example.org")


def test_message_ids_use_the_public_host_else_the_sender_domain() -> None:
    assert message_id_host("https://papers.example.org:8443/base", "mail.example.net") == "papers.example.org"
    assert message_id_host("", "mail.example.net") == "mail.example.net"
    keyed = MailRequest(to="reader@example.org", template="note", context=CONTEXT,
                        idempotency_key="note:reader:2026-12-03")
    assert queue().prepare(keyed).message_id == queue().prepare(keyed).message_id
    assert queue().prepare(keyed).message_id.endswith("@papers.example.org>")


def test_the_test_template_renders_with_and_without_a_base_url() -> None:
    with_site = MailRenderer("https://papers.example.org").render("test", {"to": "a@example.org",
                                                                           "queued_at": "now"})
    assert "The site: https://papers.example.org/" in with_site.text
    without = MailRenderer("").render("test", {"to": "a@example.org", "queued_at": "now"})
    assert "The site" not in without.text and "reaches a@example.org" in without.text


def test_list_unsubscribe_stays_one_unencoded_line_however_long_its_url() -> None:
    url = "https://papers.example.org/unsubscribe?token=" + "eyJrIjoiMUpudHNHWkdUem9xWjll" * 6
    headers = (("List-Unsubscribe", f"<{url}>, <mailto:papers@example.org?subject=unsubscribe>"),
               ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"), ("X-Long", "word " * 30))
    text = queue().prepare(MailRequest(to="ann@example.org", template="note", context=CONTEXT,
                                       headers=headers)).message
    lines = text.split("\r\n")
    assert f"List-Unsubscribe: <{url}>, <mailto:papers@example.org?subject=unsubscribe>" in lines
    assert "List-Unsubscribe-Post: List-Unsubscribe=One-Click" in lines
    assert "=?utf-8?" not in text  # no encoded words: providers read the URL as it is
    assert max(len(line) for line in lines if line.startswith("X-Long")) <= 78  # other headers still fold
    message = parsed(text)
    assert message["List-Unsubscribe"].startswith(f"<{url}>")


def test_a_long_message_id_stays_on_its_header_line() -> None:
    keyed = MailRequest(to="reader@example.org", template="note", context=CONTEXT,
                        idempotency_key="digest:1000000:2026-12-03")
    prepared = queue().prepare(keyed)
    assert len("Message-ID: " + prepared.message_id) > 78
    assert f"Message-ID: {prepared.message_id}" in prepared.message.split("\r\n")
    assert parsed(prepared.message)["Message-ID"] == prepared.message_id


def test_text_that_looks_like_a_remote_resource_is_text_not_a_refused_template() -> None:
    # A paper titled `<img src=//tracker.example/p.gif>` is escaped into the HTML as text: the
    # digest that lists it must still be sent.
    rendered = renderer().render("note", {**CONTEXT, "name": "<img src=//tracker.example/p.gif> url(//x)"})
    assert "&lt;img src=//tracker.example/p.gif&gt; url(//x)" in rendered.html


def test_a_remote_resource_in_an_included_template_is_refused() -> None:
    loader = DictLoader({**TEMPLATES, "framed/subject.txt": "Framed", "framed/body.txt": "text",
                         "framed/body.html": "<div>{% include 'parts/logo.html' %}</div>",
                         "parts/logo.html": "<img src='//cdn.example/logo.png'>"})
    with pytest.raises(InvalidInput, match="parts/logo.html loads a remote resource"):
        MailRenderer("https://papers.example.org", loader).render("framed", {})


def _reference_message(sender: MailAddress, recipient: MailAddress, mail: RenderedMail, message_id: str,
                       date: datetime, headers: tuple[tuple[str, str], ...]) -> str:
    """The same message built by the standard library's `EmailMessage`, as papercast once did."""
    message = EmailMessage(policy=MESSAGE_POLICY)
    for name, mailbox in (("From", sender), ("To", recipient)):
        message[name] = Address(display_name=mailbox.display_name, addr_spec=mailbox.address)
    message["Subject"] = mail.subject
    message["Date"] = format_datetime(date)
    message["Message-ID"] = message_id
    message["Auto-Submitted"] = "auto-generated"
    for name, value in headers:
        message[name] = value
    message.set_content(mail.text)
    message.add_alternative(mail.html, subtype="html")
    for part in message.iter_parts():
        del part["MIME-Version"]
    return message.as_bytes().decode("ascii")


_HEADER_TEXT = st.text(st.characters(min_codepoint=32, max_codepoint=0x2FF, blacklist_characters="\x7f\x85"),
                       min_size=1, max_size=120).map(str.strip).filter(bool)
_BODY_TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=400)


@settings(max_examples=300, deadline=None)
@given(subject=_HEADER_TEXT, text=_BODY_TEXT, html=_BODY_TEXT, list_id=_HEADER_TEXT,
       display_name=st.sampled_from(["", "Zoë Reader", "Ada, Lovelace", "Papercast", "O'Brien \"Bo\""]))
def test_a_message_reads_back_as_the_standard_librarys_own_would(subject: str, text: str, html: str,
                                                                  list_id: str, display_name: str) -> None:
    arguments = {"sender": MailAddress("papers@example.org", "Papercast"),
                 "recipient": MailAddress("zoe@example.org", display_name),
                 "mail": RenderedMail(subject, text, html),
                 "message_id": "<digest.1.2026-12-03@papers.example.org>",
                 "date": datetime(2026, 12, 3, 8, tzinfo=UTC),
                 "headers": (("List-Id", list_id),
                             ("List-Unsubscribe", f"<https://papers.example.org/u/{'a' * 100}>"))}
    ours = compose_message(**arguments)  # type: ignore[arg-type]
    reference = _reference_message(**arguments)  # type: ignore[arg-type]
    assert ours.isascii()
    assert all(len(line) <= 998 for line in ours.split("\r\n"))
    # Header for header, the same lines; then the same parts with the same content.
    assert ours.split("\r\nMIME-Version: ")[0] == reference.split("\r\nMIME-Version: ")[0]
    ours_parsed, reference_parsed = parsed(ours), parsed(reference)
    assert [(name, str(value)) for name, value in ours_parsed.items() if name != "Content-Type"] == \
        [(name, str(value)) for name, value in reference_parsed.items() if name != "Content-Type"]
    assert [(part.get_content_type(), part.get_content()) for part in ours_parsed.iter_parts()] == \
        [(part.get_content_type(), part.get_content()) for part in reference_parsed.iter_parts()]
