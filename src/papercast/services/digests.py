"""Digests: plan each confirmed subscriber's digest when their send hour comes (render it and
queue it in the mail outbox under one key per subscriber and period), preview one without
sending, copy delivery outcomes back and suppress addresses that keep refusing, count a period.

The worker's `plan-digests` task and `papercast digests plan` run the same `plan`; the outbox
sends what it queues. Progress is per subscriber (a delivery row and its message, committed
together), never a batch checkpoint: a planner that dies leaves the rest to the next run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from urllib.parse import urlsplit

from papercast.clock import Clock
from papercast.domain.digests import (
    DeliveryState,
    Digest,
    DigestPaper,
    DigestPeriod,
    PlannedDelivery,
    announced_dates,
    assemble_sections,
    digest_key,
    digest_paper,
    due_period,
    period_at,
    refused_in_a_row,
    trending_since,
)
from papercast.domain.errors import IndexUnavailable, InvalidInput, NotFound
from papercast.domain.mail import MailRequest, PreparedMail
from papercast.domain.papers import Paper
from papercast.domain.subscriptions import DIGEST_TEMPLATE, Subscriber, SubscriberState, subscriber_email
from papercast.ports import (
    DigestStore,
    MailPreparer,
    PaperBatchReader,
    PersonalPicks,
    SubscriberReading,
    TopicMatcher,
    TrendingSince,
    UnitOfWork,
)
from papercast.services.subscriptions import SubscriptionService

log = logging.getLogger("papercast.digests")

PAGE = 500  # confirmed subscribers read per query (keyset paging by id)
BATCH = 25  # digests per write transaction: each row keyed on its own, so a batch is no checkpoint
SETTLE_PAGE = 500


class NoPicks:
    """Personal picks until recommendations exist: none, so the section is not shown."""

    def picks(self, subscriber: Subscriber, period: DigestPeriod, limit: int) -> list[Paper]:
        return []


@dataclass(frozen=True)
class DigestPolicy:
    skip_empty: bool = True
    per_section: int = 5
    abstract_chars: int = 400
    suppress_after: int = 1


@dataclass
class PlanReport:
    at: datetime
    due: int = 0  # subscribers whose period was due and had no digest yet
    queued: int = 0
    skipped_empty: int = 0
    already: int = 0  # planned meanwhile by another planner
    failed: int = 0  # could not be built now (logged); tried again by the next run of the period
    settled: int = 0
    suppressed: int = 0
    periods: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return {"at": self.at.isoformat(), "due": self.due, "queued": self.queued,
                "skipped_empty": self.skipped_empty, "already_planned": self.already, "failed": self.failed,
                "settled": self.settled,
                "suppressed": self.suppressed, "periods": dict(sorted(self.periods.items()))}


@dataclass(frozen=True)
class Preview:
    subscriber: Subscriber
    digest: Digest
    mail: PreparedMail


class _Content:
    """What digests of one planning run share, cached: trending per window, the papers each
    announcement range brings, each distinct topic's matches in a range, and loaded papers."""

    def __init__(self, trending: TrendingSince, topics: TopicMatcher, papers: PaperBatchReader,
                 store: DigestStore, policy: DigestPolicy) -> None:
        self._trending, self._topics, self._papers, self._store = trending, topics, papers, store
        self._policy = policy
        self._cache: dict[tuple[object, ...], Any] = {}

    def _cached(self, key: tuple[object, ...], compute: Any) -> Any:
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]

    def trending(self, since: datetime) -> list[DigestPaper]:
        found: list[DigestPaper] = self._cached(("trending", since), lambda: [
            digest_paper(paper, self._policy.abstract_chars)
            for paper in self._trending.since(since, self._policy.per_section * 4)])
        return found

    def topic(self, topic: str, dates: tuple[date, date]) -> list[DigestPaper]:
        def compute() -> list[DigestPaper]:
            announced = self._cached(("announced", dates), lambda: self._store.announced(*dates))
            ids = self._topics.matching(topic, announced, self._policy.per_section * 4) if announced else []
            return self.papers(ids)
        found: list[DigestPaper] = self._cached(("topic", topic, dates), compute)
        return found

    def papers(self, paper_ids: Sequence[str]) -> list[DigestPaper]:
        missing = [paper_id for paper_id in paper_ids if ("paper", paper_id) not in self._cache]
        for paper_id, paper in self._papers.get_many(missing).items():
            self._cache[("paper", paper_id)] = digest_paper(paper, self._policy.abstract_chars)
        return [self._cache[("paper", paper_id)] for paper_id in paper_ids
                if ("paper", paper_id) in self._cache]


class DigestService:
    def __init__(self, units: UnitOfWork, store: DigestStore, subscriptions: SubscriptionService,
                 subscribers: SubscriberReading, trending: TrendingSince, topics: TopicMatcher,
                 papers: PaperBatchReader, mail: MailPreparer, clock: Clock, policy: DigestPolicy, *,
                 base_url: str, picks: PersonalPicks | None = None,
                 not_interested: Callable[[int, str], str] | None = None) -> None:
        self._units = units
        self._store = store
        self._subscriptions = subscriptions
        self._subscribers = subscribers
        self._trending = trending
        self._topics = topics
        self._papers = papers
        self._mail = mail
        self._clock = clock
        self.policy = policy
        self._picks = picks or NoPicks()
        # (user id, paper id) -> the path of a signed "not interested" link, for readers with an account
        self._not_interested = not_interested
        self._list_host = urlsplit(base_url).hostname or "localhost"

    # -- planning ------------------------------------------------------------------------------

    def plan(self, at: datetime | None = None) -> PlanReport:
        """Queue every digest due at `at` (now): confirmed subscribers whose send hour on their
        local date (or this week's Monday) has come and whose period has no digest yet. First
        copies finished deliveries back (and suppresses addresses that keep refusing)."""
        at = at or self._clock.now()
        report = PlanReport(at)
        self.settle(report)
        content = self._content()
        for page in self._due_pages(at, report):
            for start in range(0, len(page), BATCH):
                self._plan_batch(page[start:start + BATCH], content, report)
        log.info("digests.planned at=%s due=%d queued=%d skipped_empty=%d already=%d failed=%d",
                 at.isoformat(), report.due, report.queued, report.skipped_empty, report.already,
                 report.failed)
        return report

    def _due_pages(self, at: datetime, report: PlanReport) -> Iterator[list[tuple[Subscriber, DigestPeriod]]]:
        after = 0
        while True:
            page = self._subscriptions.confirmed_page(after_id=after, limit=PAGE)
            if not page:
                return
            after = page[-1].id
            due = [(subscriber, period) for subscriber in page
                   if (period := due_period(subscriber.preferences, at)) is not None]
            taken = self._store.planned([(subscriber.id, period.key) for subscriber, period in due])
            todo = [(subscriber, period) for subscriber, period in due
                    if (subscriber.id, period.key) not in taken]
            report.due += len(todo)
            if todo:
                yield todo

    def _plan_batch(self, batch: Sequence[tuple[Subscriber, DigestPeriod]], content: _Content,
                    report: PlanReport) -> None:
        composed = []
        for subscriber, period in batch:
            try:
                composed.append((subscriber, self._compose(subscriber, period, content)))
            except (InvalidInput, IndexUnavailable) as error:
                _failed(report, subscriber, period, error)
        if not composed:
            return
        now = self._clock.now()
        with self._units.begin() as transaction:
            # Read again, and held: an unsubscribe that commits first is seen here; one that comes
            # later waits for this commit and then cancels what it queued.
            ids = [subscriber.id for subscriber, _ in composed]
            now_stored = transaction.subscribers.by_ids(ids, lock=True)
            for subscriber, digest in composed:
                current = now_stored.get(subscriber.id)
                if current is None or current.state is not SubscriberState.CONFIRMED or current.email is None:
                    continue  # unsubscribed, paused or suppressed since the page was read
                try:
                    self._record(transaction, current, digest, now, report)
                except InvalidInput as error:  # raised by the mail queue before it wrote anything
                    _failed(report, current, digest.period, error)

    def _record(self, transaction: Any, subscriber: Subscriber, digest: Digest, now: datetime,
                report: PlanReport) -> None:
        period = digest.period
        outbox_id: int | None = None
        state = DeliveryState.QUEUED
        if digest.is_empty and self.policy.skip_empty:
            state = DeliveryState.SKIPPED_EMPTY
        else:
            queued = transaction.mail.enqueue(self._request(subscriber, digest))
            if queued is None:
                report.already += 1
                return
            outbox_id = queued.outbox_id
        delivery = PlannedDelivery(subscriber.id, period.key, state, outbox_id, digest.paper_count,
                                   period.send_at)
        if not self._store.add(transaction.connection, delivery, now):
            report.already += 1
            return
        report.periods[period.key] = report.periods.get(period.key, 0) + 1
        if state is DeliveryState.QUEUED:
            report.queued += 1
            if subscriber.user_id is not None:
                # The reader's later recommendations leave out what this digest showed.
                shown = [paper.paper_id for section in digest.sections for paper in section.papers]
                transaction.recommendations.record_shown(subscriber.user_id, shown)
        else:
            report.skipped_empty += 1

    # -- content -------------------------------------------------------------------------------

    def _content(self) -> _Content:
        return _Content(self._trending, self._topics, self._papers, self._store, self.policy)

    def _compose(self, subscriber: Subscriber, period: DigestPeriod, content: _Content) -> Digest:
        preferences = subscriber.preferences
        dates = announced_dates(preferences, period.send_at)
        window = "this week" if preferences.frequency.value == "weekly" else "today"
        candidates: list[tuple[str, str, Sequence[DigestPaper]]] = [
            ("trending", f"Trending {window}", content.trending(trending_since(preferences, period.send_at)))]
        candidates.extend(("topic", topic, content.topic(topic, dates)) for topic in preferences.topics)
        picks = self._picks.picks(subscriber, period, self.policy.per_section)
        candidates.append(("picks", "Picked for you",
                           content.papers([paper.paper_id for paper in picks]) if picks else []))
        return Digest(period, assemble_sections(candidates, self.policy.per_section))

    def _request(self, subscriber: Subscriber, digest: Digest) -> MailRequest:
        assert subscriber.email is not None
        links = self._subscriptions.links(subscriber)
        period = digest.period
        context = {
            "name": subscriber.name, "period": period.key,
            "weekly": subscriber.preferences.frequency.value == "weekly",
            "date": period.local_start.strftime("%-d %B %Y"), "paper_count": digest.paper_count,
            "sections": [{"kind": section.kind, "title": section.title,
                          "papers": [self._paper_context(subscriber, paper) for paper in section.papers]}
                         for section in digest.sections],
            "topics": list(subscriber.preferences.topics),
            "unsubscribe_url": links.unsubscribe_url, "preferences_url": links.preferences_url,
        }
        headers = (*links.headers(), ("List-Id", f"papercast digest <digest.{self._list_host}>"),
                   ("Precedence", "list"))
        return MailRequest(to=subscriber.email, template=DIGEST_TEMPLATE, context=context,
                           idempotency_key=digest_key(subscriber.id, period.key), not_after=period.ends_at,
                           headers=headers)

    def _paper_context(self, subscriber: Subscriber, paper: DigestPaper) -> dict[str, str | None]:
        """A paper's template context; with a signed "not interested" link for a reader with an
        account (the link needs no sign-in, see RecommendationService.not_interested_path)."""
        context = paper.as_context()
        context["not_interested_path"] = (
            self._not_interested(subscriber.user_id, paper.paper_id)
            if subscriber.user_id is not None and self._not_interested is not None else None)
        return context

    # -- preview -------------------------------------------------------------------------------

    def preview(self, email_text: str, at: datetime | None = None) -> Preview:
        """The digest `email` would get for the period at `at` (now), rendered, not sent."""
        email = subscriber_email(email_text)
        with self._subscribers.reading() as records:
            subscriber = records.by_email(email)
        if subscriber is None or subscriber.email is None:
            raise NotFound(f"no subscriber {email}")
        at = at or self._clock.now()
        period = period_at(subscriber.preferences, at)
        digest = self._compose(subscriber, period, self._content())
        return Preview(subscriber, digest, self._mail.prepare(self._request(subscriber, digest)))

    # -- outcomes ------------------------------------------------------------------------------

    def settle(self, report: PlanReport | None = None) -> int:
        """Copy finished messages' outcomes onto their deliveries; an address refused for good
        `suppress_after` digests in a row is suppressed. How many were settled."""
        settled = 0
        while True:
            finished = self._store.finished(SETTLE_PAGE)
            if not finished:
                break
            for delivery in self._store.settle(finished, self._clock.now()):
                settled += 1
                refused = delivery.state is DeliveryState.FAILED and self._refuses(delivery.subscriber_id)
                if refused and report is not None:
                    report.suppressed += 1
            if len(finished) < SETTLE_PAGE:
                break
        if report is not None:
            report.settled += settled
        return settled

    def _refuses(self, subscriber_id: int) -> bool:
        limit = self.policy.suppress_after
        refused = refused_in_a_row(self._store.recent_outcomes(subscriber_id, limit))
        if refused < limit:
            return False
        try:
            self._subscriptions.suppress(subscriber_id, f"{refused} digests in a row refused by the mail "
                                                        "server")
        except NotFound:  # the address was removed meanwhile: nothing left to suppress
            return False
        return True

    def status(self, period: str | None = None) -> tuple[str | None, dict[str, int]]:
        """Deliveries per state for `period` (the latest planned one when not given)."""
        chosen = period or self._store.latest_period()
        return chosen, (self._store.counts(chosen) if chosen else {})


def _failed(report: PlanReport, subscriber: Subscriber, period: DigestPeriod, error: Exception) -> None:
    """One subscriber's digest could not be built: the others go on, and nothing is recorded for
    it, so the next run of the period tries again (a damaged index rebuilt meanwhile, say)."""
    report.failed += 1
    log.error("digests.failed subscriber=%d period=%s: %s", subscriber.id, period.key, error)
