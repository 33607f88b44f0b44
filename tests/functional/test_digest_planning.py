"""Planning digests on SQLite and PostgreSQL: one per confirmed subscriber and period, with the
trending papers, then each topic's new papers, each paper once; skipped when nothing is new;
a preview renders without queueing; refused deliveries suppress the address."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from email import message_from_string, policy
from pathlib import Path

import pytest
from sqlalchemy import select, update

from papercast.bootstrap import Papercast, build
from papercast.domain.digests import DigestPeriod
from papercast.domain.errors import IndexUnavailable, InvalidInput
from papercast.domain.mail import MailRequest, PreparedMail
from papercast.domain.papers import Paper
from papercast.domain.subscriptions import Subscriber, SubscriberState
from papercast.index.topics import KeywordTopicMatcher
from papercast.mail.queue import TemplatedMailQueue
from papercast.settings import Settings
from papercast.storage.engine import write_transaction
from papercast.storage.tables import digest_deliveries, mail_outbox, subscribers
from support.clock import ManualClock
from support.digests import BASE, daily, import_subscribers, load_catalog, outbox_messages, text_of

MORNING = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(MORNING)


@pytest.fixture
def papercast(database_url: str, tmp_path: Path, clock: ManualClock) -> Iterator[Papercast]:
    settings = Settings.load(env={}, data_dir=tmp_path, database_url=database_url, base_url=BASE,
                             mail_from="Papercast <papers@example.org>", embedding_model="hashing")
    app = build(settings, clock)
    load_catalog(app)
    yield app
    app.close()


def test_each_confirmed_subscriber_gets_one_digest_with_trending_then_topics(papercast: Papercast) -> None:
    import_subscribers(papercast, [("ann@example.org", daily("diffusion models", "cat:quant-ph")),
                                   ("bob@example.org", daily()),
                                   ("late@example.org", daily("diffusion", hour=9))])
    report = papercast.digests().plan()
    assert (report.queued, report.skipped_empty) == (2, 0)  # late@ is due at 09:00
    messages = outbox_messages(papercast)
    assert set(messages) == {"ann@example.org", "bob@example.org"}
    ann = text_of(messages["ann@example.org"])
    # Trending: papers announced that day with points, most first; then each topic, each paper once.
    sections = [line for line in ann.splitlines() if line.startswith("== ")]
    assert sections == ["== Trending today ==", "== diffusion models ==", "== cat:quant-ph =="]
    assert ann.index("Diffusion models for protein design") < ann.index("Graph neural networks at scale")
    assert ann.count("Diffusion models for protein design") == 1  # trending, not again under its topic
    assert "A survey of diffusion samplers" in ann and "Quantum error correction" in ann
    assert "Old diffusion paper" not in ann and "Topological order" not in ann  # other days
    assert "α-helices" in ann and "O(n²)" in ann and "Morazán" in ann  # LaTeX as text
    assert "https://papers.example.org/papers/2612.00001" in ann and "https://arxiv.org/pdf/2612.00003" in ann
    assert "…" in ann  # the long abstract is trimmed
    header = messages["ann@example.org"]
    assert header["List-Unsubscribe"].startswith("<https://papers.example.org/unsubscribe?token=")
    assert header["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert header["List-Id"] == "papercast digest <digest.papers.example.org>"
    assert header["Precedence"] == "list"
    bob = text_of(messages["bob@example.org"])
    assert "== Trending today ==" in bob and "A survey of diffusion samplers" not in bob

    again = papercast.digests().plan()
    assert (again.due, again.queued) == (0, 0)  # planned once per period, whoever asks
    assert len(outbox_messages(papercast)) == 2


def test_a_digest_with_nothing_new_is_skipped_and_recorded(papercast: Papercast) -> None:
    [ann] = import_subscribers(papercast, [("ann@example.org", daily("cat:astro-ph"))])
    saturday = datetime(2026, 12, 5, 8, 30, tzinfo=UTC)  # nothing announced on 5 December
    report = papercast.digests().plan(saturday)
    assert (report.queued, report.skipped_empty) == (0, 1)
    assert outbox_messages(papercast) == {}
    assert papercast.digests().status("2026-12-05")[1]["skipped_empty"] == 1
    with papercast.engine.connect() as connection:
        assert connection.execute(select(digest_deliveries.c.subscriber_id)).scalars().all() == [ann.id]


def test_preview_renders_without_queueing(papercast: Papercast) -> None:
    import_subscribers(papercast, [("ann@example.org", daily("surface codes"))])
    preview = papercast.digests().preview("Ann@Example.org", MORNING)
    assert preview.digest.period.key == "2026-12-03"
    message = message_from_string(preview.mail.message, policy=policy.default)
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "Quantum error correction with surface codes" in html and "<style" not in html
    assert outbox_messages(papercast) == {}


def test_refused_deliveries_suppress_the_address_and_nothing_more_goes(papercast: Papercast,
                                                                        clock: ManualClock) -> None:
    [ann, bob] = import_subscribers(papercast, [("ann@example.org", daily("diffusion")),
                                                ("bob@example.org", daily("diffusion"))])
    papercast.digests().plan()
    with write_transaction(papercast.engine) as connection:
        connection.execute(update(mail_outbox).where(mail_outbox.c.recipient == "ann@example.org")
                           .values(state="failed", last_smtp_code=550))
        connection.execute(update(mail_outbox).where(mail_outbox.c.recipient == "bob@example.org")
                           .values(state="sent"))
    clock.advance(86_400)
    report = papercast.digests().plan()
    assert (report.settled, report.suppressed) == (2, 1)
    states = {subscriber.email: subscriber.state for subscriber in papercast.subscriptions().list()}
    assert states == {"ann@example.org": SubscriberState.SUPPRESSED,
                      "bob@example.org": SubscriberState.CONFIRMED}
    assert report.queued == 1 or report.skipped_empty == 1  # bob only
    status = papercast.digests().status("2026-12-03")[1]
    assert (status["failed"], status["sent"]) == (1, 1)


@pytest.mark.parametrize("start", [datetime(2026, 3, 5, tzinfo=UTC), datetime(2026, 9, 24, tzinfo=UTC)])
def test_one_digest_per_local_day_across_daylight_saving_changes(database_url: str, tmp_path: Path,
                                                                 start: datetime) -> None:
    """Los Angeles enters summer time on 8 March, Auckland on 27 September (the hour skipped at
    02:00 is a subscriber's send hour); the planner runs every hour for a week."""
    clock = ManualClock(start)
    settings = Settings.load(env={}, data_dir=tmp_path, database_url=database_url, base_url=BASE,
                             mail_from="papers@example.org", embedding_model="hashing",
                             digest_skip_empty=False)
    papercast = build(settings, clock)
    try:
        import_subscribers(papercast, [("la@example.org", daily(hour=2, zone="America/Los_Angeles")),
                                       ("akl@example.org", daily(hour=2, zone="Pacific/Auckland")),
                                       ("akl7@example.org", daily(hour=7, zone="Pacific/Auckland"))])
        for _ in range(7 * 24):
            papercast.digests().plan()
            clock.advance(3600)
        with papercast.engine.connect() as connection:
            keys = connection.execute(select(mail_outbox.c.idempotency_key)).scalars().all()
    finally:
        papercast.close()
    per_subscriber: dict[str, list[str]] = {}
    for key in keys:
        _, subscriber, period = key.split(":")
        per_subscriber.setdefault(subscriber, []).append(period)
    for periods in per_subscriber.values():
        assert len(periods) == len(set(periods))  # never two for a local date
        days = sorted(datetime.fromisoformat(period).date() for period in periods)
        assert len(days) >= 6 and all((b - a).days == 1 for a, b in zip(days, days[1:], strict=False))


class TwoPicks:
    """Recommendations as issue #13 will give them: two papers for any reader."""

    def picks(self, subscriber: Subscriber, period: DigestPeriod, limit: int) -> list[Paper]:
        return list(self.papers.values())

    def __init__(self, papercast: Papercast) -> None:
        self.papers = papercast.papers.get_many(["2612.00004", "2612.00005"])


def test_personal_picks_come_last_through_their_port_each_paper_once(papercast: Papercast) -> None:
    import_subscribers(papercast, [("ann@example.org", daily("surface codes"))])
    without = papercast.digests().preview("ann@example.org", MORNING)
    assert [section.kind for section in without.digest.sections] == ["trending", "topic"]  # no picks yet
    digest = papercast.digests(picks=TwoPicks(papercast)).preview("ann@example.org", MORNING).digest
    assert [section.title for section in digest.sections][-1] == "Picked for you"
    picked = [paper.paper_id for paper in digest.sections[-1].papers]
    assert picked == ["2612.00005"]  # 2612.00004 is the topic's already


def test_an_unsubscribe_committing_while_the_planner_runs_is_honoured(papercast: Papercast) -> None:
    # The unsubscribe holds its change (uncommitted) while the planner composes; the planner's
    # write must wait for it and then see the subscriber gone, on PostgreSQL as on SQLite.
    import_subscribers(papercast, [("ann@example.org", daily("diffusion")), ("bob@example.org", daily())])
    outcome: list[object] = []
    with papercast.engine.connect() as connection:
        transaction = connection.begin()
        connection.execute(update(subscribers).where(subscribers.c.email == "ann@example.org")
                           .values(state=SubscriberState.UNSUBSCRIBED.value))
        planner = threading.Thread(target=lambda: outcome.append(papercast.digests().plan()))
        planner.start()
        planner.join(timeout=1.5)  # long enough for the planner to read ann as still confirmed
        transaction.commit()
    planner.join(timeout=60)
    assert not planner.is_alive() and len(outcome) == 1
    assert set(outbox_messages(papercast)) == {"bob@example.org"}


def test_a_digest_that_cannot_be_built_costs_no_other_and_is_tried_again(
        papercast: Papercast, monkeypatch: pytest.MonkeyPatch) -> None:
    # The keyword index cannot be read for one topic (damaged files), and one subscriber's
    # address cannot be written into a message: the others are planned; both are planned by a
    # later run once the cause is gone.
    import_subscribers(papercast, [("ann@example.org", daily("diffusion")), ("bob@example.org", daily()),
                                   ("cy@example.org", daily("cat:quant-ph")), ("dee@example.org", daily())])
    real_matching = KeywordTopicMatcher.matching

    def damaged(self: KeywordTopicMatcher, topic: str, *args: object) -> list[str]:
        if topic == "diffusion":
            raise IndexUnavailable("the keyword index cannot be read (damaged segment)")
        return real_matching(self, topic, *args)  # type: ignore[arg-type]

    real_prepare = TemplatedMailQueue.prepare

    def refusing(self: TemplatedMailQueue, request: MailRequest) -> PreparedMail:
        if request.to == "dee@example.org":
            raise InvalidInput("cannot write the To header", field="To")
        return real_prepare(self, request)

    monkeypatch.setattr(KeywordTopicMatcher, "matching", damaged)
    monkeypatch.setattr(TemplatedMailQueue, "prepare", refusing)
    report = papercast.digests().plan()
    assert (report.queued, report.failed) == (2, 2)
    assert set(outbox_messages(papercast)) == {"bob@example.org", "cy@example.org"}
    monkeypatch.undo()
    later = papercast.digests().plan()
    assert (later.queued, later.failed) == (2, 0)
    assert set(outbox_messages(papercast)) == {"ann@example.org", "bob@example.org", "cy@example.org",
                                               "dee@example.org"}
