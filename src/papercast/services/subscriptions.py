"""Digest subscriptions: subscribe with double opt-in, confirm, change preferences, pause,
unsubscribe (one click, from any digest ever sent), and what operators and the digest need.

Asking to subscribe has one outcome a visitor can see, whatever the address: new, unconfirmed,
confirmed, unsubscribed, suppressed or over a rate limit. Only the mail differs: a confirmation
link (queued with its link record, in one transaction), a note with the preferences link for an
address that is subscribed already, or nothing (logged) when a limit refuses it.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import quote

from papercast.clock import Clock
from papercast.domain.errors import Conflict, InvalidInput, NotFound
from papercast.domain.mail import MailRequest, parse_mailbox
from papercast.domain.subscriber_imports import ImportedSubscriber, ImportReport, Rejection
from papercast.domain.subscriptions import (
    CONFIRM_PURPOSE,
    CONFIRM_TEMPLATE,
    DIGEST_TEMPLATE,
    PREFERENCES_PURPOSE,
    UNSUBSCRIBE_PURPOSE,
    Preferences,
    Subscriber,
    SubscriberEvent,
    SubscriberState,
    SubscriptionPolicy,
    SupersededLink,
    next_state,
    subscriber_email,
    subscriber_name,
)
from papercast.domain.tokens import InvalidToken, TokenSigner, new_secret
from papercast.domain.votes import address_group
from papercast.ports import (
    AccountReading,
    SubscriberReading,
    SubscriberRecords,
    Transaction,
    UnitOfWork,
)
from papercast.services.links import LinkLimits, SingleUseLinks

log = logging.getLogger("papercast.subscriptions")

ADDRESS_WINDOW = timedelta(hours=24)
REQUESTER_WINDOW = timedelta(hours=1)
IMPORT_BATCH = 500  # imported rows written per transaction
LINK_KEY_BYTES = 16


def confirm_path(token: str) -> str:
    return f"/subscribe/confirm?token={token}"


def preferences_path(token: str) -> str:
    return f"/subscribe/preferences?token={token}"


def unsubscribe_path(token: str) -> str:
    return f"/unsubscribe?token={token}"


@dataclass(frozen=True)
class SubscriptionLinks:
    """The links a digest carries for its subscriber: one-click unsubscribe (https and mailto)
    and the preferences page."""

    unsubscribe_url: str
    unsubscribe_mailto: str
    preferences_url: str

    def headers(self) -> tuple[tuple[str, str], ...]:
        """`List-Unsubscribe` (RFC 2369) and `List-Unsubscribe-Post` (RFC 8058, one click)."""
        return (("List-Unsubscribe", f"<{self.unsubscribe_url}>, <{self.unsubscribe_mailto}>"),
                ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"))


@dataclass(frozen=True)
class ByLink:
    """A subscriber found by a preferences link (no sign-in needed)."""

    token: str


@dataclass(frozen=True)
class ByAccount:
    """A signed-in reader's own subscription."""

    user_id: int


Holder = ByLink | ByAccount
# A change to one subscriber inside a unit of work: (transaction, the subscriber, now).
_Change = Callable[[Transaction, Subscriber, datetime], None]


class SubscriptionService:
    """Subscriptions over the unit of work (writes) and the subscriber and account stores (reads)."""

    def __init__(self, units: UnitOfWork, subscribers: SubscriberReading, accounts: AccountReading,
                 signer: TokenSigner, clock: Clock, policy: SubscriptionPolicy, *, base_url: str) -> None:
        self._units = units
        self._subscribers = subscribers
        self._accounts = accounts
        self._signer = signer
        self._clock = clock
        self.policy = policy
        self._base_url = base_url.rstrip("/")
        self._links = SingleUseLinks(signer, clock)

    # -- subscribing -------------------------------------------------------------------------

    def request(self, email_text: str, preferences: Preferences, requester: str, *, name: str = "",
                source: str = "form") -> None:
        """Subscribe an address nobody has proven yet: mail it a confirmation link when it may
        have one. A malformed address or name is `InvalidInput` (that says nothing about
        subscribers); every other outcome is silent."""
        email = subscriber_email(email_text)
        name = subscriber_name(name)
        # Counted by network (an IPv6 client rotates through its /64), as votes are.
        requester_hash = self._signer.digest("requester", address_group(requester))
        limits = LinkLimits(self.policy.per_address_per_day, ADDRESS_WINDOW, self.policy.per_ip_per_hour,
                            REQUESTER_WINDOW)
        with self._units.begin() as transaction:
            accounts = transaction.accounts
            refusal = self._links.refusal(accounts, CONFIRM_PURPOSE, email, requester_hash, limits)
            if refusal:
                log.warning("subscriptions.request_refused reason=%s requester=%s", refusal,
                            requester_hash[:12])
                return
            subscriber = self._requested(transaction, email, preferences, name, source)
            token = self._links.issue(accounts, CONFIRM_PURPOSE, email, self.policy.confirm_max_age,
                                      requester_hash)
            self._queue_confirmation(transaction, subscriber, token)
        log.info("subscriptions.confirmation_mailed requester=%s", requester_hash[:12])

    def _requested(self, transaction: Transaction, email: str, preferences: Preferences, name: str,
                   source: str) -> Subscriber:
        """The subscriber after a subscribe request: new, or with the request's preferences when
        it is not confirmed; a confirmed or paused one is left as it is (a stranger may ask)."""
        now = self._clock.now()
        records = transaction.subscribers
        found = records.by_email(email)
        state = next_state(found.state if found else None, SubscriberEvent.REQUEST)
        if found is None:
            added = records.add(email, state, preferences, link_key=new_secret(LINK_KEY_BYTES), source=source,
                                now=now, name=name)
            assert added is not None  # the address lock keeps a second request out
            return added
        if state is SubscriberState.UNCONFIRMED:
            records.set_preferences(found.id, preferences, now, requested=True)
            records.set_owner(found.id, name=name)
            if found.state is not state:
                records.set_state(found.id, state, now, reason=f"subscribed again by {source}")
        changed = records.by_id(found.id)
        assert changed is not None
        _follows_changed(transaction, found, changed)
        return changed

    def _queue_confirmation(self, transaction: Transaction, subscriber: Subscriber, token: str) -> None:
        already = subscriber.state is not SubscriberState.UNCONFIRMED
        chosen = subscriber.preferences
        context = {"already": already, "hours": int(self.policy.confirm_max_age.total_seconds() // 3600),
                   "path": self.preferences_path(subscriber) if already else confirm_path(token),
                   "topics": list(chosen.topics), "frequency": chosen.frequency.value,
                   "send_hour": chosen.send_hour, "time_zone": chosen.time_zone}
        assert subscriber.email is not None
        request = MailRequest(to=subscriber.email, template=CONFIRM_TEMPLATE, context=context,
                              not_after=self._clock.now() + self.policy.confirm_max_age)
        try:
            transaction.mail.enqueue(request)
        except InvalidInput as error:  # the address passed already: the set-up is wrong, not the input
            raise RuntimeError(f"the confirmation mail could not be queued ({error}): check the mail "
                               "settings") from error

    def subscribe_reader(self, user_id: int, email: str, preferences: Preferences, *,
                         name: str = "") -> Subscriber:
        """Subscribe a signed-in reader with their account's address. Their sign-in proved the
        address, so no confirmation mail: the subscription is confirmed now, with these preferences."""
        name = subscriber_name(name)
        now = self._clock.now()
        with self._units.begin() as transaction:
            transaction.accounts.lock(f"{CONFIRM_PURPOSE}:{email}")  # the lock `request` takes first
            records = transaction.subscribers
            found = records.by_user(user_id) or records.by_email(email)
            state = next_state(found.state if found else None, SubscriberEvent.SIGNED_IN)
            if found is None:
                added = records.add(email, state, preferences, link_key=new_secret(LINK_KEY_BYTES),
                                    source="account", now=now, name=name, user_id=user_id, consented_at=now)
                assert added is not None
                subscriber_id = added.id
            else:
                subscriber_id = found.id
                records.set_preferences(found.id, preferences, now, requested=True)
                records.set_owner(found.id, name=name or None, user_id=user_id)
                if found.state is not state:
                    records.set_state(found.id, state, now, reason="subscribed while signed in",
                                      consented_at=now)
            subscriber = records.by_id(subscriber_id)
            _follows_changed(transaction, found, subscriber)
        assert subscriber is not None
        log.info("subscriptions.subscribed_reader subscriber=%d user=%d", subscriber.id, user_id)
        return subscriber

    # -- confirming --------------------------------------------------------------------------

    def check_confirmation(self, token: str) -> Subscriber:
        """The subscription a confirmation link would confirm (nothing is changed: the page shows
        it with a button). `InvalidToken` (expired, used, superseded, ...) or `Conflict`."""
        with self._accounts.reading() as accounts:
            link = self._links.check(accounts, CONFIRM_PURPOSE, token, self.policy.confirm_max_age)
        with self._subscribers.reading() as records:
            subscriber = _confirmable(records.by_email(link.subject), link.created_at)
        next_state(subscriber.state, SubscriberEvent.CONFIRM)
        return subscriber

    def confirm(self, token: str) -> Subscriber:
        """Use a confirmation link: the subscription is confirmed (once; a confirmed one stays)."""
        now = self._clock.now()
        with self._units.begin() as transaction:
            link = self._links.redeem(transaction.accounts, CONFIRM_PURPOSE, token,
                                      self.policy.confirm_max_age)
            records = transaction.subscribers
            subscriber = _confirmable(records.by_email(link.subject), link.created_at)
            state = next_state(subscriber.state, SubscriberEvent.CONFIRM)
            if state is not subscriber.state:
                records.set_state(subscriber.id, state, now, reason="confirmed by mail", consented_at=now)
            confirmed = records.by_id(subscriber.id)
        assert confirmed is not None
        log.info("subscriptions.confirmed subscriber=%d", confirmed.id)
        return confirmed

    # -- a subscriber's own subscription -----------------------------------------------------

    def find(self, holder: Holder) -> Subscriber:
        """The subscription of a preferences link or a signed-in reader; `InvalidToken` or `NotFound`."""
        with self._subscribers.reading() as records:
            return self._held(records, holder)

    def set_preferences(self, holder: Holder, preferences: Preferences) -> Subscriber:
        def change(transaction: Transaction, found: Subscriber, now: datetime) -> None:
            transaction.subscribers.set_preferences(found.id, preferences, now)
        return self._change(holder, change)

    def pause(self, holder: Holder) -> Subscriber:
        return self._change(holder, self._stopping(SubscriberEvent.PAUSE, "paused by the reader"))

    def resume(self, holder: Holder) -> Subscriber:
        return self._change(holder, self._event(SubscriberEvent.RESUME, "resumed by the reader"))

    def unsubscribe(self, holder: Holder, reason: str = "unsubscribed by the reader") -> Subscriber:
        return self._change(holder, self._stopping(SubscriberEvent.UNSUBSCRIBE, reason))

    def check_unsubscribe_link(self, token: str) -> Subscriber:
        """The subscription an unsubscribe link names (nothing changes: link scanners open it)."""
        with self._subscribers.reading() as records:
            return self._by_token(records, UNSUBSCRIBE_PURPOSE, token)

    def unsubscribe_by_link(self, token: str) -> Subscriber:
        """One-click unsubscribe (RFC 8058): the link never expires and may be used again and
        again (the answer stays the same); queued digests to the address are cancelled with it."""
        now = self._clock.now()
        with self._units.begin() as transaction:
            found = self._by_token(transaction.subscribers, UNSUBSCRIBE_PURPOSE, token)
            self._stopping(SubscriberEvent.UNSUBSCRIBE, "one-click unsubscribe")(transaction, found, now)
            changed = transaction.subscribers.by_id(found.id)
        assert changed is not None
        return changed

    def links(self, subscriber: Subscriber) -> SubscriptionLinks:
        """The unsubscribe and preferences links for `subscriber`, signed now. What the digest
        puts in its headers (`SubscriptionLinks.headers()`) and in both parts' footer."""
        mailto_address = parse_mailbox(self.policy.unsubscribe_mailto, "PAPERCAST_UNSUBSCRIBE_MAILTO").address
        return SubscriptionLinks(
            unsubscribe_url=self._base_url + self.unsubscribe_path(subscriber),
            unsubscribe_mailto=f"mailto:{quote(mailto_address, safe='@')}?subject=unsubscribe",
            preferences_url=self._base_url + self.preferences_path(subscriber))

    def unsubscribe_path(self, subscriber: Subscriber) -> str:
        """The one-click unsubscribe link's path (never expires)."""
        return unsubscribe_path(self._sign(UNSUBSCRIBE_PURPOSE, subscriber))

    def preferences_path(self, subscriber: Subscriber) -> str:
        """The preferences page's path, signed now (works for PAPERCAST_PREFERENCES_LINK_DAYS)."""
        return preferences_path(self._sign(PREFERENCES_PURPOSE, subscriber))

    # -- the digest's side -------------------------------------------------------------------

    def confirmed_page(self, after_id: int = 0, limit: int = 1000) -> list[Subscriber]:
        """Confirmed subscribers (the only ones a digest goes to) with their topics, frequency,
        hour and zone, in id order after `after_id`: page with the last id of the page before."""
        with self._subscribers.reading() as records:
            return records.page(states=[SubscriberState.CONFIRMED], after_id=after_id, limit=limit)

    def suppress(self, subscriber_id: int, reason: str) -> Subscriber:
        """Stop everything to a subscriber whose mail bounces or complains (delivery decides);
        queued digests are cancelled. Only the subscriber's own new subscription undoes it."""
        now = self._clock.now()
        with self._units.begin() as transaction:
            found = transaction.subscribers.by_id(subscriber_id)
            if found is None or found.email is None:
                raise NotFound(f"no subscriber {subscriber_id}")
            self._stopping(SubscriberEvent.SUPPRESS, reason)(transaction, found, now)
            changed = transaction.subscribers.by_id(subscriber_id)
        assert changed is not None
        log.warning("subscriptions.suppressed subscriber=%d reason=%s", subscriber_id, reason)
        return changed

    # -- operators ---------------------------------------------------------------------------

    def list(self, states: Iterable[SubscriberState] = (), limit: int = 100_000) -> list[Subscriber]:
        with self._subscribers.reading() as records:
            return records.page(states=list(states), limit=limit)

    def state_counts(self) -> dict[str, int]:
        with self._subscribers.reading() as records:
            return records.state_counts()

    def remove(self, email_text: str) -> Subscriber:
        """Remove an address's personal data: the subscription's address, name, topics, its links
        and every message to it in the outbox. The row stays, without them, for what refers to it."""
        email = subscriber_email(email_text)
        now = self._clock.now()
        with self._units.begin() as transaction:
            found = transaction.subscribers.by_email(email)
            if found is None:
                raise NotFound(f"no subscriber {email}")
            self._forget(transaction, found, now)
        log.info("subscriptions.removed subscriber=%d", found.id)
        return found

    def _forget(self, transaction: Transaction, found: Subscriber, now: datetime) -> None:
        assert found.email is not None
        transaction.subscribers.forget(found.id, now, new_secret(LINK_KEY_BYTES))
        _follows_changed(transaction, found, transaction.subscribers.by_id(found.id))
        transaction.accounts.forget_links(found.email)
        transaction.mail.forget_recipient(found.email)

    def import_subscribers(self, rows: Iterable[ImportedSubscriber | Rejection]) -> ImportReport:
        """Write imported subscribers (their consent given elsewhere), confirmed, a batch per
        transaction; rows refused while reading are reported in their place. An existing address
        is updated; one that unsubscribed or was suppressed here is refused by line."""
        report = ImportReport()
        for batch in _batches(rows, IMPORT_BATCH):
            with self._units.begin() as transaction:
                for row in batch:
                    report.record(row if isinstance(row, Rejection) else self._import_one(transaction, row))
        log.info("subscriptions.imported added=%d updated=%d rejected=%d", report.added, report.updated,
                 len(report.rejections))
        return report

    def _import_one(self, transaction: Transaction, row: ImportedSubscriber) -> str | Rejection:
        now = self._clock.now()
        records = transaction.subscribers
        found = records.by_email(row.email)
        try:
            state = next_state(found.state if found else None, SubscriberEvent.IMPORT)
        except Conflict as error:
            return Rejection(row.location, f"{row.email}: {error}")
        if found is None:
            records.add(row.email, state, row.preferences, link_key=new_secret(LINK_KEY_BYTES),
                        source="import", now=now, name=row.name, consented_at=row.consented_at)
            return "added"
        records.set_preferences(found.id, row.preferences, now)
        records.set_owner(found.id, name=row.name or found.name)
        if found.state is not state:
            records.set_state(found.id, state, now, reason="imported", consented_at=row.consented_at)
        _follows_changed(transaction, found, records.by_id(found.id))
        return "updated"

    # -- helpers -----------------------------------------------------------------------------

    def _sign(self, purpose: str, subscriber: Subscriber) -> str:
        return self._signer.sign(purpose, {"s": subscriber.id, "k": subscriber.link_key}, self._clock.now())

    def _by_token(self, records: SubscriberRecords, purpose: str, token: str) -> Subscriber:
        max_age = self.policy.preferences_max_age if purpose == PREFERENCES_PURPOSE else None
        payload = self._signer.verify(purpose, token, self._clock.now(), max_age).payload
        subscriber_id, key = payload.get("s"), payload.get("k")
        if not isinstance(subscriber_id, int) or not isinstance(key, str):
            raise InvalidToken("the link does not name a subscription")
        found = records.by_id(subscriber_id)
        if found is None or found.email is None or not hmac.compare_digest(found.link_key, key):
            raise InvalidToken("this link's subscription was removed")
        return found

    def _held(self, records: SubscriberRecords, holder: Holder) -> Subscriber:
        if isinstance(holder, ByLink):
            return self._by_token(records, PREFERENCES_PURPOSE, holder.token)
        found = records.by_user(holder.user_id)
        if found is None or found.email is None:
            raise NotFound("you have no digest subscription; subscribe at /subscribe")
        return found

    def _change(self, holder: Holder, change: _Change) -> Subscriber:
        now = self._clock.now()
        with self._units.begin() as transaction:
            found = self._held(transaction.subscribers, holder)
            change(transaction, found, now)
            changed = transaction.subscribers.by_id(found.id)
            _follows_changed(transaction, found, changed)
        assert changed is not None
        return changed

    def _event(self, event: SubscriberEvent, reason: str) -> _Change:
        def apply(transaction: Transaction, found: Subscriber, now: datetime) -> None:
            state = next_state(found.state, event)
            if state is not found.state:
                transaction.subscribers.set_state(found.id, state, now, reason=reason)
        return apply

    def _stopping(self, event: SubscriberEvent, reason: str) -> _Change:
        """Pause, unsubscribe or suppress: the state, and the queued digests cancelled in the same
        transaction, so nothing queued before arrives after."""
        def apply(transaction: Transaction, found: Subscriber, now: datetime) -> None:
            state = next_state(found.state, event)
            if state is found.state:
                return
            transaction.subscribers.set_state(found.id, state, now, reason=reason)
            assert found.email is not None
            cancelled = transaction.mail.cancel(found.email, [DIGEST_TEMPLATE], f"{state.value}: {reason}")
            log.info("subscriptions.%s subscriber=%d digests_cancelled=%d", state.value, found.id, cancelled)
        return apply


def _follows_changed(transaction: Transaction, before: Subscriber | None, after: Subscriber | None) -> None:
    """A reader's followed topics (their account's subscription's topics, while it has an
    address) are signals of their recommendations: when they change, the reader's signal version
    moves on and their refit is queued in this transaction, as a vote does."""
    def follows(subscriber: Subscriber | None) -> tuple[int | None, tuple[str, ...]]:
        if subscriber is None or subscriber.email is None or subscriber.user_id is None:
            return None, ()
        return subscriber.user_id, subscriber.preferences.topics

    (old_user, old_topics), (new_user, new_topics) = follows(before), follows(after)
    for user_id in dict.fromkeys(user for user in (old_user, new_user) if user is not None):
        was = old_topics if user_id == old_user else ()
        now = new_topics if user_id == new_user else ()
        if was != now:
            transaction.recommendations.signals_changed(user_id)


def _confirmable(found: Subscriber | None, link_created_at: datetime) -> Subscriber:
    if found is None or found.email is None:
        raise InvalidToken("this link's subscription was removed; subscribe again")
    if link_created_at < found.requested_at:
        raise SupersededLink("a newer confirmation mail was sent to this address: use the link in that one")
    return found


def _batches(rows: Iterable[ImportedSubscriber | Rejection],
             size: int) -> Iterator[list[ImportedSubscriber | Rejection]]:
    batch: list[ImportedSubscriber | Rejection] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch

