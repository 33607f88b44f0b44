"""Digest subscriptions as data and rules: addresses, topics (saved searches), frequency, send
hour and time zone, the subscriber's states and the one table of what may follow what.
Storage, the web, the API and the import command only carry out what is decided here.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from functools import cache

from papercast.domain.accounts import normalise_email
from papercast.domain.errors import Conflict, InvalidInput
from papercast.domain.query import parse_query
from papercast.domain.tokens import InvalidToken

CONFIRM_PURPOSE = "confirm-subscription"  # single-use links in confirmation mail (link_tokens)
UNSUBSCRIBE_PURPOSE = "unsubscribe"  # never expires: old digests must keep working
PREFERENCES_PURPOSE = "preferences"
CONFIRM_TEMPLATE = "confirm-subscription"
DIGEST_TEMPLATE = "digest"  # the digest's mail kind: unsubscribing cancels its queued messages
MAX_TOPICS = 20
MAX_TOPIC_LENGTH = 200
MAX_NAME_LENGTH = 100
DEFAULT_SEND_HOUR = 8
DEFAULT_TIME_ZONE = "UTC"
# Zone names zoneinfo lists that are not places a reader lives in.
_NOT_ZONES = frozenset({"Factory", "localtime"})
# CR, LF, NUL and every other control character or line separator: never in an address, a name
# or a topic (they end up in mail headers and links; one line each).
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f\x85\u2028\u2029]")  # a tab is a space
_CATEGORY = re.compile(r"[A-Za-z-]+(?:\.[A-Za-z-]+)?")


class SupersededLink(InvalidToken):
    """A confirmation link older than the address's latest subscribe request."""


class SubscriberState(StrEnum):
    UNCONFIRMED = "unconfirmed"  # asked by form or API; the address has not confirmed yet
    CONFIRMED = "confirmed"  # gets digests
    PAUSED = "paused"  # by the reader: no digests until resumed
    UNSUBSCRIBED = "unsubscribed"  # by the reader (or an operator removing the address)
    SUPPRESSED = "suppressed"  # by delivery (bounces, complaints): nothing until they subscribe again

    @property
    def receives_digests(self) -> bool:
        return self is SubscriberState.CONFIRMED


class Frequency(StrEnum):
    DAILY = "daily"
    WEEKLY = "weekly"


class SubscriberEvent(StrEnum):
    """What happens to a subscription."""

    REQUEST = "request"  # the form or the API, for an address nobody has proven yet
    CONFIRM = "confirm"  # the confirmation link was used
    SIGNED_IN = "signed-in"  # a signed-in reader subscribes their account's (proven) address
    IMPORT = "import"  # an operator imports a list whose consent was given elsewhere
    PAUSE = "pause"
    RESUME = "resume"
    UNSUBSCRIBE = "unsubscribe"
    SUPPRESS = "suppress"


_S, _E = SubscriberState, SubscriberEvent
_ENDED = (_S.UNSUBSCRIBED, _S.SUPPRESSED)
# Every allowed (state, event) pair and the state it leads to; None is "no subscriber yet".
# Anything missing is refused. An ended subscription (unsubscribed, suppressed) only comes back
# through the reader's own action: a new double opt-in, or their signed-in account; an import
# never overrides their choice.
TRANSITIONS: dict[tuple[SubscriberState | None, SubscriberEvent], SubscriberState] = {
    (None, _E.REQUEST): _S.UNCONFIRMED,
    (None, _E.SIGNED_IN): _S.CONFIRMED,
    (None, _E.IMPORT): _S.CONFIRMED,
    (_S.UNCONFIRMED, _E.REQUEST): _S.UNCONFIRMED,
    (_S.UNCONFIRMED, _E.CONFIRM): _S.CONFIRMED,
    (_S.UNCONFIRMED, _E.SIGNED_IN): _S.CONFIRMED,
    (_S.UNCONFIRMED, _E.IMPORT): _S.CONFIRMED,
    (_S.UNCONFIRMED, _E.UNSUBSCRIBE): _S.UNSUBSCRIBED,
    (_S.UNCONFIRMED, _E.SUPPRESS): _S.SUPPRESSED,
    # Asking again for a confirmed address changes nothing (a stranger may not change the
    # preferences); the owner gets a mail with their preferences link instead.
    (_S.CONFIRMED, _E.REQUEST): _S.CONFIRMED,
    (_S.CONFIRMED, _E.CONFIRM): _S.CONFIRMED,
    (_S.CONFIRMED, _E.SIGNED_IN): _S.CONFIRMED,
    (_S.CONFIRMED, _E.IMPORT): _S.CONFIRMED,
    (_S.CONFIRMED, _E.PAUSE): _S.PAUSED,
    (_S.CONFIRMED, _E.RESUME): _S.CONFIRMED,
    (_S.CONFIRMED, _E.UNSUBSCRIBE): _S.UNSUBSCRIBED,
    (_S.CONFIRMED, _E.SUPPRESS): _S.SUPPRESSED,
    (_S.PAUSED, _E.REQUEST): _S.PAUSED,
    (_S.PAUSED, _E.CONFIRM): _S.PAUSED,
    (_S.PAUSED, _E.SIGNED_IN): _S.CONFIRMED,
    (_S.PAUSED, _E.IMPORT): _S.PAUSED,
    (_S.PAUSED, _E.PAUSE): _S.PAUSED,
    (_S.PAUSED, _E.RESUME): _S.CONFIRMED,
    (_S.PAUSED, _E.UNSUBSCRIBE): _S.UNSUBSCRIBED,
    (_S.PAUSED, _E.SUPPRESS): _S.SUPPRESSED,
    **{(state, _E.REQUEST): _S.UNCONFIRMED for state in _ENDED},
    **{(state, _E.SIGNED_IN): _S.CONFIRMED for state in _ENDED},
    **{(state, _E.UNSUBSCRIBE): state for state in _ENDED},  # one-click is idempotent
    (_S.UNSUBSCRIBED, _E.SUPPRESS): _S.SUPPRESSED,
    (_S.SUPPRESSED, _E.SUPPRESS): _S.SUPPRESSED,
}

_REFUSALS = {
    _E.CONFIRM: "this subscription ended after the confirmation mail was sent; subscribe again",
    _E.IMPORT: "this address unsubscribed or was suppressed here; only its owner can subscribe it again",
    _E.PAUSE: "only a confirmed subscription can be paused",
    _E.RESUME: "only a paused subscription can be resumed; an ended one needs a new subscription",
}


def next_state(state: SubscriberState | None, event: SubscriberEvent) -> SubscriberState:
    """The state `event` leads to from `state`; `Conflict` saying why when it is not allowed."""
    found = TRANSITIONS.get((state, event))
    if found is None:
        reason = _REFUSALS.get(event, f"a subscription that is {state or 'not there'} cannot {event.value}")
        raise Conflict(reason)
    return found


@dataclass(frozen=True)
class Preferences:
    """What a subscriber gets and when: topics (queries in the search language), daily or weekly,
    at `send_hour` o'clock in `time_zone` (IANA)."""

    topics: tuple[str, ...] = ()
    frequency: Frequency = Frequency.DAILY
    send_hour: int = DEFAULT_SEND_HOUR
    time_zone: str = DEFAULT_TIME_ZONE


@dataclass(frozen=True)
class Subscriber:
    """A stored subscription. `email` is None once an operator removed its personal data.
    `link_key` is the random secret every unsubscribe and preferences link carries: stable for
    the subscription's life, so old mails keep working."""

    id: int
    email: str | None
    name: str
    user_id: int | None
    state: SubscriberState
    preferences: Preferences
    link_key: str
    source: str
    created_at: datetime
    requested_at: datetime
    confirmed_at: datetime | None = None
    consented_at: datetime | None = None
    unsubscribed_at: datetime | None = None
    suppressed_at: datetime | None = None
    state_reason: str = ""


@dataclass(frozen=True)
class SubscriptionPolicy:
    """How subscribing behaves; the numbers come from the settings."""

    confirm_max_age: timedelta = timedelta(hours=72)
    preferences_max_age: timedelta = timedelta(days=90)
    per_address_per_day: int = 3  # confirmation mails; 0: no limit
    per_ip_per_hour: int = 5  # confirmation mails asked for from one IP; 0: no limit
    unsubscribe_mailto: str = ""  # the address of List-Unsubscribe's mailto


def require_one_line(text: str, field: str) -> str:
    """`text` if it holds no line break or other control character; InvalidInput naming `field`."""
    found = _CONTROL.search(text)
    if found:
        raise InvalidInput(f"holds a line break or control character ({found.group()!r} at position "
                           f"{found.start()}); it must be one line", field=field)
    return text


def subscriber_email(text: str) -> str:
    """The address as stored (one bare address, lower-cased). Unlike sign-in, a line break even at
    either end is refused rather than trimmed: this input goes into mail headers."""
    return normalise_email(require_one_line(text, "email"))


def subscriber_name(text: str) -> str:
    """An optional display name (`Ann Smith`): one line, trimmed, at most MAX_NAME_LENGTH."""
    name = require_one_line(text, "name").strip()
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidInput(f"a name has at most {MAX_NAME_LENGTH} characters", field="name")
    return name


def parse_topic(text: str, field: str = "topics") -> str:
    """One topic as stored: a query of the search language (`cat:cs.LG`, `"diffusion model" -survey`)
    that parses without the parser dropping or reinterpreting anything, since a saved search must
    mean what the reader wrote. Whitespace is collapsed."""
    require_one_line(text, field)
    topic = " ".join(text.split())
    if not topic:
        raise InvalidInput("a topic is empty", field=field)
    if len(topic) > MAX_TOPIC_LENGTH:
        raise InvalidInput(f"{topic[:40]!r}…: a topic has at most {MAX_TOPIC_LENGTH} characters", field=field)
    parsed = parse_query(topic)
    if parsed.warnings:
        raise InvalidInput(f"{topic!r}: {'; '.join(parsed.warnings)}", field=field)
    if parsed.is_empty:
        raise InvalidInput(f"{topic!r} has nothing to search for", field=field)
    return topic


def parse_topics(texts: Iterable[str], field: str = "topics") -> tuple[str, ...]:
    """Topics in the reader's order, duplicates dropped, at most MAX_TOPICS."""
    topics = tuple(dict.fromkeys(parse_topic(text, field) for text in texts))
    if len(topics) > MAX_TOPICS:
        raise InvalidInput(f"at most {MAX_TOPICS} topics, not {len(topics)}", field=field)
    return topics


def category_topic(category: str) -> str:
    """A category chosen from a list (`cs.LG`) as the topic that follows it (`cat:cs.LG`)."""
    name = require_one_line(category, "categories").strip()
    if not _CATEGORY.fullmatch(name):
        raise InvalidInput(f"{name[:40]!r} is not an arXiv category (like cs.LG)", field="categories")
    return parse_topic(f"cat:{name}", "categories")


def parse_frequency(text: str) -> Frequency:
    try:
        return Frequency(require_one_line(text, "frequency").strip().lower())
    except ValueError as error:
        raise InvalidInput(f"{text!r} is not a frequency: daily or weekly", field="frequency") from error


def parse_send_hour(value: object) -> int:
    """An hour of the day, 0 to 23 (a whole number, or its digits as text)."""
    hour = value.strip() if isinstance(value, str) else value
    if isinstance(hour, str) and re.fullmatch(r"[0-9]{1,2}", hour):
        hour = int(hour)
    if not isinstance(hour, int) or isinstance(hour, bool) or not 0 <= hour <= 23:
        raise InvalidInput(f"{value!r} is not an hour from 0 to 23", field="send_hour")
    return hour


def parse_time_zone(text: str) -> str:
    """An IANA time zone name as zoneinfo knows it (`Europe/Berlin`, `UTC`), in its own spelling;
    any capitalisation is accepted."""
    name = require_one_line(text, "time_zone").strip()
    canonical = _zone_names().get(name.lower())
    if canonical is None:
        raise InvalidInput(f"{name[:64]!r} is not an IANA time zone (like Europe/Berlin or UTC)",
                           field="time_zone")
    return canonical


@cache
def _zone_names() -> dict[str, str]:
    return {name.lower(): name for name in zoneinfo.available_timezones() if name not in _NOT_ZONES}


def parse_preferences(*, topics: Sequence[str] = (), categories: Sequence[str] = (),
                      frequency: str = Frequency.DAILY.value, send_hour: object = DEFAULT_SEND_HOUR,
                      time_zone: str = DEFAULT_TIME_ZONE) -> Preferences:
    """Preferences from what a reader or a file gave (categories become `cat:` topics after the
    others); InvalidInput naming the first bad field."""
    chosen = [category_topic(category) for category in categories]
    return Preferences(parse_topics([*topics, *chosen]), parse_frequency(frequency),
                       parse_send_hour(send_hour), parse_time_zone(time_zone or DEFAULT_TIME_ZONE))
