"""One contract for every mailer (memory, `.eml` files, SMTP to a real loopback server): what goes in
comes out with the same envelope, headers and both parts, over one session."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from papercast.domain.mail import DeliveryFailed, Envelope, FailureKind, MailRequest
from papercast.mail.files import FileMailer
from papercast.mail.memory import MemoryMailer
from papercast.mail.queue import TemplatedMailQueue
from papercast.mail.render import MailRenderer
from papercast.mail.smtp import SmtpConfig, SmtpMailer
from papercast.ports import Mailer
from support.clock import ManualClock
from support.smtp_server import ScriptedHandler, smtp_server

# A mailer, and how to read back (envelope recipient, raw message) of what it delivered.
Backend = tuple[Mailer, Callable[[], list[tuple[str, bytes]]]]


@contextmanager
def memory_backend(_: Path) -> Iterator[Backend]:
    mailer = MemoryMailer()
    yield mailer, lambda: [(e.recipient, e.message.encode("ascii")) for e in mailer.delivered]


@contextmanager
def files_backend(folder: Path) -> Iterator[Backend]:
    mailer = FileMailer(folder / "mail")

    def written() -> list[tuple[str, bytes]]:
        # A file holds no envelope: its recipient is the one in its To header.
        raws = [path.read_bytes() for path in (folder / "mail").iterdir()]
        return [(parsed(raw)["To"].addresses[0].addr_spec, raw) for raw in raws]

    yield mailer, written


@contextmanager
def smtp_backend(_: Path) -> Iterator[Backend]:
    handler = ScriptedHandler()
    with smtp_server(handler) as server:
        mailer = SmtpMailer(SmtpConfig(host="127.0.0.1", port=server.port, security="none", timeout=5))
        yield mailer, lambda: [(r.recipients[0], r.content) for r in handler.received]


BACKENDS: dict[str, Callable[[Path], AbstractContextManager[Backend]]] = {
    "memory": memory_backend, "files": files_backend, "smtp": smtp_backend}


@pytest.fixture(params=[pytest.param("memory"), pytest.param("files"),
                        pytest.param("smtp", marks=pytest.mark.slow)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    with BACKENDS[request.param](tmp_path) as made:
        yield made


def envelopes() -> list[Envelope]:
    queue = TemplatedMailQueue(create_engine("sqlite://"), MailRenderer("https://papers.example.org"),
                               ManualClock(), mail_from="Papercast <papers@example.org>",
                               base_url="https://papers.example.org")
    made = []
    for to, name in (("Zoë Reader <zoe@example.org>", "Zoë"), ("ada@example.org", "Ada")):
        prepared = queue.prepare(MailRequest(to=to, template="test", context={"queued_at": f"for {name}"},
                                             headers=(("List-Id", "Tests <tests.papers.example.org>"),)))
        made.append(Envelope(prepared.sender, prepared.recipient, prepared.message_id, prepared.message))
    return made


def parsed(raw: bytes) -> EmailMessage:
    message = message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def test_what_is_delivered_comes_out_with_the_same_headers_and_both_parts(backend: Backend) -> None:
    mailer, delivered = backend
    sent = envelopes()
    session = mailer.session()
    receipts = [session.deliver(envelope) for envelope in sent]
    session.close()
    assert all(receipt.smtp_code == 250 for receipt in receipts)
    out = {parsed(raw)["Message-ID"]: (recipient, raw) for recipient, raw in delivered()}
    assert len(out) == len(sent)
    for envelope in sent:
        recipient, raw = out[envelope.message_id]
        assert recipient == envelope.recipient
        original, received = parsed(envelope.message.encode("ascii")), parsed(raw)
        assert received.items() == original.items()
        assert [part.get_content_type() for part in received.iter_parts()] == ["text/plain", "text/html"]
        assert [part.get_content() for part in received.iter_parts()] == [
            part.get_content() for part in original.iter_parts()]
    zoe = parsed(out[sent[0].message_id][1])
    assert "reaches zoe@example.org" in zoe.get_body(("plain",)).get_content()


def test_the_files_mailer_names_a_message_by_its_id_and_leaves_no_partial_files(tmp_path: Path) -> None:
    mailer = FileMailer(tmp_path / "mail")
    first, _ = envelopes()
    mailer.deliver(first)
    mailer.deliver(first)  # sent again after a lost reply: the same file, not a second copy
    assert [path.name for path in (tmp_path / "mail").iterdir()] == [
        first.message_id.strip("<>") + ".eml"]


def test_a_folder_the_files_mailer_cannot_write_is_not_the_messages_fault(tmp_path: Path) -> None:
    (tmp_path / "data").write_text("a file where the data folder should be")
    with pytest.raises(DeliveryFailed) as raised:
        FileMailer(tmp_path / "data" / "mail").deliver(envelopes()[0])
    assert raised.value.kind is FailureKind.UNREACHABLE
    assert "cannot write" in raised.value.detail
