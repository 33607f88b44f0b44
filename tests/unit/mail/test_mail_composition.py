"""Templates rendered to messages: autoescaping, links from the base URL, MIME structure, and header
injection refused on every path a header value takes (template subject, To, From, custom headers)."""

from __future__ import annotations

from email import message_from_string, policy
from email.message import EmailMessage

import pytest
from jinja2 import DictLoader
from sqlalchemy import create_engine

from papercast.domain.errors import InvalidInput
from papercast.domain.mail import MailRequest
from papercast.mail.queue import TemplatedMailQueue, message_id_host
from papercast.mail.render import MailRenderer
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
