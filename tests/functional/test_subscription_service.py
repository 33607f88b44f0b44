"""What the digest gets from `SubscriptionService`, on SQLite and PostgreSQL: confirmed subscribers
page by page, the unsubscribe links and headers of a subscriber, suppression, and unsubscribing
that cancels queued digests (only those) in the same transaction; requests racing for one
address make one subscriber and stay within the limits."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select, update

from papercast.bootstrap import Papercast, build
from papercast.domain.errors import NotFound
from papercast.domain.mail import PreparedMail
from papercast.domain.subscriber_imports import ImportedSubscriber
from papercast.domain.subscriptions import (
    CONFIRM_TEMPLATE,
    DIGEST_TEMPLATE,
    Frequency,
    Preferences,
    Subscriber,
    SubscriberState,
)
from papercast.services.subscriptions import ByLink
from papercast.settings import Settings
from papercast.storage.engine import write_transaction
from papercast.storage.outbox import enqueue_mail
from papercast.storage.tables import mail_outbox
from support.clock import ManualClock

S = SubscriberState
BASE = "https://papers.example.org"


@pytest.fixture
def papercast(database_url: str, tmp_path: Path) -> Iterator[Papercast]:
    settings = Settings.load(env={}, data_dir=tmp_path, database_url=database_url, base_url=BASE,
                             mail_from="Papercast <papers@example.org>", subscribe_per_address_per_day=3,
                             subscribe_per_ip_per_hour=0)
    papercast = build(settings, ManualClock())
    yield papercast
    papercast.close()


def add(papercast: Papercast, *emails: str, preferences: Preferences | None = None) -> list[Subscriber]:
    rows = [ImportedSubscriber(f"line {n}", email, "", preferences or Preferences(("vision",)),
                               datetime(2024, 5, 1, tzinfo=UTC)) for n, email in enumerate(emails, start=1)]
    service = papercast.subscriptions()
    assert service.import_subscribers(rows).added == len(emails)
    found = {item.email: item for item in service.list()}
    return [found[email] for email in emails]


def queue(papercast: Papercast, email: str, kind: str, key: str) -> int:
    mail = PreparedMail(kind=kind, message_id=f"<{key}@example.org>", sender="papers@example.org",
                        recipient=email, subject=kind, message="Subject: x\r\n\r\nx\r\n", idempotency_key=key)
    with write_transaction(papercast.engine) as connection:
        outbox_id = enqueue_mail(connection, mail, papercast.clock.now())
    assert outbox_id is not None
    return outbox_id


def states(papercast: Papercast) -> dict[int, str]:
    with papercast.engine.connect() as connection:
        rows = connection.execute(select(mail_outbox.c.id, mail_outbox.c.state))
        return {row.id: row.state for row in rows}


def test_confirmed_subscribers_page_by_page_in_id_order(papercast: Papercast) -> None:
    service = papercast.subscriptions()
    subscribers = add(papercast, *(f"r{n}@example.org" for n in range(7)))
    service.pause(ByLink(service.preferences_path(subscribers[1]).split("token=")[1]))
    service.suppress(subscribers[4].id, "hard bounce: 550 no such user")
    service.request("new@example.org", Preferences(), "203.0.113.7")
    pages, after = [], 0
    while page := service.confirmed_page(after_id=after, limit=2):
        pages.append([item.email for item in page])
        after = page[-1].id
    assert pages == [["r0@example.org", "r2@example.org"], ["r3@example.org", "r5@example.org"],
                     ["r6@example.org"]]
    first = service.confirmed_page(limit=1)[0]
    assert first.preferences == Preferences(("vision",), Frequency.DAILY, 8, "UTC")


def test_a_subscribers_links_and_headers(papercast: Papercast) -> None:
    service = papercast.subscriptions()
    [ann] = add(papercast, "ann@example.org")
    links = service.links(ann)
    assert links.unsubscribe_url.startswith(f"{BASE}/unsubscribe?token=")
    assert links.preferences_url.startswith(f"{BASE}/subscribe/preferences?token=")
    assert links.unsubscribe_mailto == "mailto:papers@example.org?subject=unsubscribe"
    both = f"<{links.unsubscribe_url}>, <{links.unsubscribe_mailto}>"
    assert links.headers() == (("List-Unsubscribe", both),
                               ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"))
    token = links.unsubscribe_url.split("token=")[1]
    assert service.check_unsubscribe_link(token).id == ann.id  # it names this subscriber
    assert service.unsubscribe_by_link(token).state is S.UNSUBSCRIBED


def test_the_mailto_address_is_a_setting(database_url: str, tmp_path: Path) -> None:
    settings = Settings.load(env={}, data_dir=tmp_path, database_url=database_url, base_url=BASE,
                             unsubscribe_mailto="leave@example.org")
    papercast = build(settings)
    try:
        [ann] = add(papercast, "ann@example.org")
        mailto = papercast.subscriptions().links(ann).unsubscribe_mailto
        assert mailto == "mailto:leave@example.org?subject=unsubscribe"
    finally:
        papercast.close()


def test_ending_a_subscription_cancels_its_queued_digests_and_nothing_else(papercast: Papercast) -> None:
    service = papercast.subscriptions()
    ann, bob = add(papercast, "ann@example.org", "bob@example.org")
    queued = queue(papercast, "Ann@example.org", DIGEST_TEMPLATE, "digest:1:2026-12-03")
    in_flight = queue(papercast, "ann@example.org", DIGEST_TEMPLATE, "digest:1:2026-12-02")
    confirmation = queue(papercast, "ann@example.org", CONFIRM_TEMPLATE, "confirm:1")
    others = queue(papercast, "bob@example.org", DIGEST_TEMPLATE, "digest:2:2026-12-03")
    with write_transaction(papercast.engine) as connection:  # a sender holds it: on the wire already
        connection.execute(update(mail_outbox).where(mail_outbox.c.id == in_flight).values(state="sending"))
    service.unsubscribe_by_link(service.unsubscribe_path(ann).split("token=")[1])
    assert states(papercast) == {queued: "expired", in_flight: "sending", confirmation: "queued",
                                 others: "queued"}
    later = queue(papercast, "bob@example.org", DIGEST_TEMPLATE, "digest:2:2026-12-04")
    suppressed = service.suppress(bob.id, "hard bounce")
    assert suppressed.state is S.SUPPRESSED and suppressed.state_reason == "hard bounce"
    assert states(papercast)[others] == states(papercast)[later] == "expired"
    assert service.suppress(bob.id, "again").state is S.SUPPRESSED  # no error the second time
    with pytest.raises(NotFound):
        service.suppress(bob.id + 100, "unknown")


def test_a_suppressed_address_comes_back_only_through_a_new_double_opt_in(papercast: Papercast) -> None:
    service = papercast.subscriptions()
    [ann] = add(papercast, "ann@example.org")
    service.suppress(ann.id, "hard bounce")
    service.request("ann@example.org", Preferences(("cat:hep-th",)), "203.0.113.7")
    [again] = service.list()
    assert again.id == ann.id and again.state is S.UNCONFIRMED and service.confirmed_page() == []
    assert again.preferences.topics == ("cat:hep-th",)


def test_requests_racing_for_one_address_make_one_subscriber_within_the_limit(papercast: Papercast) -> None:
    service = papercast.subscriptions()
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def subscribe(n: int) -> None:
        start.wait()
        try:
            service.request("ann@example.org", Preferences((f"topic{n}",)), f"203.0.113.{n}")
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=subscribe, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert [item.email for item in service.list()] == ["ann@example.org"]
    with papercast.engine.connect() as connection:
        mails = connection.execute(select(mail_outbox).where(mail_outbox.c.kind == CONFIRM_TEMPLATE)).all()
    assert len(mails) == 3  # the address's limit, whoever won the races


def test_the_per_ip_limit_counts_an_ipv6_network_by_its_64(database_url: str, tmp_path: Path) -> None:
    """One IPv6 client holds a whole /64 and may rotate through it: the limit counts the /64 (as
    votes do), and an IPv4-mapped address as its IPv4 address."""
    settings = Settings.load(env={}, data_dir=tmp_path, database_url=database_url, base_url=BASE,
                             mail_from="papers@example.org", subscribe_per_ip_per_hour=2,
                             subscribe_per_address_per_day=0)
    papercast = build(settings, ManualClock())
    try:
        service = papercast.subscriptions()
        for n, requester in enumerate(("2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2:ffff::3",
                                       "2001:db8:1:3::1", "203.0.113.7", "::ffff:203.0.113.7",
                                       "::ffff:203.0.113.7")):
            service.request(f"r{n}@example.org", Preferences(), requester)
        with papercast.engine.connect() as connection:
            mailed = connection.execute(select(mail_outbox.c.recipient)
                                        .where(mail_outbox.c.kind == CONFIRM_TEMPLATE)).scalars().all()
        assert sorted(mailed) == ["r0@example.org", "r1@example.org", "r3@example.org", "r4@example.org",
                                  "r5@example.org"]
    finally:
        papercast.close()


def test_pausing_cancels_the_queued_digests_too(papercast: Papercast) -> None:
    """A reader who pauses expects no digest from then on, as one who unsubscribes does."""
    service = papercast.subscriptions()
    [ann] = add(papercast, "ann@example.org")
    queued = queue(papercast, "ann@example.org", DIGEST_TEMPLATE, "digest:1:2026-12-03")
    holder = ByLink(service.preferences_path(ann).split("token=")[1])
    assert service.pause(holder).state is S.PAUSED
    assert states(papercast) == {queued: "expired"}
    assert service.resume(holder).state is S.CONFIRMED
