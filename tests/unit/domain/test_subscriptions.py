"""The subscription rules: every (state, event) pair, addresses, names, topics (the search
language, without anything dropped), frequencies, hours and IANA time zones."""

from __future__ import annotations

import itertools

import pytest

from papercast.domain.errors import Conflict, InvalidInput
from papercast.domain.subscriptions import (
    MAX_TOPIC_LENGTH,
    MAX_TOPICS,
    TRANSITIONS,
    Frequency,
    Preferences,
    SubscriberEvent,
    SubscriberState,
    category_topic,
    next_state,
    parse_frequency,
    parse_preferences,
    parse_send_hour,
    parse_time_zone,
    parse_topic,
    parse_topics,
    subscriber_email,
    subscriber_name,
)

S, E = SubscriberState, SubscriberEvent
LINE_BREAKS = ("\r", "\n", "\r\n", "\x00", "\x85", "\u2028", "\x1b")

# Every pair that is allowed, and where it leads; all others must raise.
ALLOWED = {
    (None, E.REQUEST): S.UNCONFIRMED, (None, E.SIGNED_IN): S.CONFIRMED, (None, E.IMPORT): S.CONFIRMED,
    (S.UNCONFIRMED, E.REQUEST): S.UNCONFIRMED, (S.UNCONFIRMED, E.CONFIRM): S.CONFIRMED,
    (S.UNCONFIRMED, E.SIGNED_IN): S.CONFIRMED, (S.UNCONFIRMED, E.IMPORT): S.CONFIRMED,
    (S.UNCONFIRMED, E.UNSUBSCRIBE): S.UNSUBSCRIBED, (S.UNCONFIRMED, E.SUPPRESS): S.SUPPRESSED,
    (S.CONFIRMED, E.REQUEST): S.CONFIRMED, (S.CONFIRMED, E.CONFIRM): S.CONFIRMED,
    (S.CONFIRMED, E.SIGNED_IN): S.CONFIRMED, (S.CONFIRMED, E.IMPORT): S.CONFIRMED,
    (S.CONFIRMED, E.PAUSE): S.PAUSED, (S.CONFIRMED, E.RESUME): S.CONFIRMED,
    (S.CONFIRMED, E.UNSUBSCRIBE): S.UNSUBSCRIBED, (S.CONFIRMED, E.SUPPRESS): S.SUPPRESSED,
    (S.PAUSED, E.REQUEST): S.PAUSED, (S.PAUSED, E.CONFIRM): S.PAUSED, (S.PAUSED, E.SIGNED_IN): S.CONFIRMED,
    (S.PAUSED, E.IMPORT): S.PAUSED, (S.PAUSED, E.PAUSE): S.PAUSED, (S.PAUSED, E.RESUME): S.CONFIRMED,
    (S.PAUSED, E.UNSUBSCRIBE): S.UNSUBSCRIBED, (S.PAUSED, E.SUPPRESS): S.SUPPRESSED,
    (S.UNSUBSCRIBED, E.REQUEST): S.UNCONFIRMED, (S.UNSUBSCRIBED, E.SIGNED_IN): S.CONFIRMED,
    (S.UNSUBSCRIBED, E.UNSUBSCRIBE): S.UNSUBSCRIBED, (S.UNSUBSCRIBED, E.SUPPRESS): S.SUPPRESSED,
    (S.SUPPRESSED, E.REQUEST): S.UNCONFIRMED, (S.SUPPRESSED, E.SIGNED_IN): S.CONFIRMED,
    (S.SUPPRESSED, E.UNSUBSCRIBE): S.SUPPRESSED, (S.SUPPRESSED, E.SUPPRESS): S.SUPPRESSED,
}


@pytest.mark.parametrize(("state", "event"), list(itertools.product([None, *S], E)))
def test_every_state_and_event_pair(state: SubscriberState | None, event: SubscriberEvent) -> None:
    if (state, event) in ALLOWED:
        assert next_state(state, event) is ALLOWED[(state, event)]
    else:
        with pytest.raises(Conflict):
            next_state(state, event)
    assert set(TRANSITIONS) == set(ALLOWED)


def test_only_confirmed_subscribers_receive_digests() -> None:
    assert [state for state in S if state.receives_digests] == [S.CONFIRMED]


def test_an_ended_subscription_comes_back_only_by_its_owner() -> None:
    for ended in (S.UNSUBSCRIBED, S.SUPPRESSED):
        assert next_state(ended, E.REQUEST) is S.UNCONFIRMED  # a new double opt-in
        with pytest.raises(Conflict, match="only its owner"):
            next_state(ended, E.IMPORT)
        with pytest.raises(Conflict, match="subscribe again"):
            next_state(ended, E.CONFIRM)  # a link mailed before the subscription ended
        with pytest.raises(Conflict):
            next_state(ended, E.RESUME)


def test_addresses_are_normalised_and_line_breaks_refused_even_at_the_ends() -> None:
    assert subscriber_email("  Ann@Example.ORG ") == "ann@example.org"
    for bad in ("", "not an address", "a@b@c", "Ann <ann@example.org>", "ann@localhost", "ann@exa mple.org"):
        with pytest.raises(InvalidInput) as refused:
            subscriber_email(bad)
        assert refused.value.field == "email"
    for character in LINE_BREAKS:
        for text in (f"ann@example.org{character}", f"ann@example.org{character}Bcc: eve@example.org",
                     f"{character}ann@example.org"):
            with pytest.raises(InvalidInput, match="line break or control character") as refused:
                subscriber_email(text)
            assert refused.value.field == "email"


def test_names_are_one_short_line() -> None:
    assert subscriber_name("  Ann  Smith ") == "Ann  Smith"
    assert subscriber_name("") == ""
    for character in LINE_BREAKS:
        with pytest.raises(InvalidInput, match="line break") as refused:
            subscriber_name(f"Ann{character}Bcc: eve@example.org")
        assert refused.value.field == "name"
    with pytest.raises(InvalidInput, match="at most 100"):
        subscriber_name("x" * 101)


def test_topics_are_queries_of_the_search_language() -> None:
    for topic in ("diffusion models", 'cat:cs.LG "graph neural network" -survey', "cat:hep-th",
                  "author:hinton year:2019..2021", "id:1706.03762"):
        assert parse_topic(topic) == topic
    assert parse_topic("  graph   neural\tnetworks ") == "graph neural networks"
    assert category_topic("cs.CL") == "cat:cs.CL"


@pytest.mark.parametrize("bad", ["", "   ", "cat:not_a-category!", 'unbalanced "quote', "AND", "-",
                                 "c++ (templates)", "x" * (MAX_TOPIC_LENGTH + 1)])
def test_a_topic_the_parser_would_change_or_empty_is_refused(bad: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_topic(bad)
    assert refused.value.field == "topics"


def test_topics_refuse_line_breaks_and_keep_their_order() -> None:
    for character in LINE_BREAKS:
        with pytest.raises(InvalidInput, match="line break"):
            parse_topic(f"transformers{character}Bcc: eve@example.org")
    assert parse_topics(["b", "a", "b", "cat:cs.LG"]) == ("b", "a", "cat:cs.LG")
    with pytest.raises(InvalidInput, match=f"at most {MAX_TOPICS}"):
        parse_topics([f"topic{n}" for n in range(MAX_TOPICS + 1)])
    with pytest.raises(InvalidInput) as refused:
        category_topic("not a category")
    assert refused.value.field == "categories"


def test_frequencies_and_hours() -> None:
    assert parse_frequency(" Weekly ") is Frequency.WEEKLY and parse_frequency("daily") is Frequency.DAILY
    for bad in ("monthly", "", "daily\r\n"):
        with pytest.raises(InvalidInput):
            parse_frequency(bad)
    assert [parse_send_hour(value) for value in (0, 23, "7", " 08 ")] == [0, 23, 7, 8]
    for bad in (-1, 24, "24", "8.5", 8.0, True, None, "", "٣"):
        with pytest.raises(InvalidInput) as refused:
            parse_send_hour(bad)
        assert refused.value.field == "send_hour"


def test_time_zones_are_iana_names_zoneinfo_knows() -> None:
    assert parse_time_zone("Europe/Berlin") == "Europe/Berlin"
    assert parse_time_zone("america/los_angeles") == "America/Los_Angeles"
    assert parse_time_zone(" UTC ") == "UTC" and parse_time_zone("Pacific/Auckland") == "Pacific/Auckland"
    for bad in ("", "Mars/Olympus", "America", "../../etc/passwd", "/usr/share/zoneinfo/UTC", "localtime",
                "Factory", "UTC+2", "Europe/Berlin\r\n", "x" * 300):
        with pytest.raises(InvalidInput) as refused:
            parse_time_zone(bad)
        assert refused.value.field == "time_zone"


def test_preferences_default_to_daily_at_eight_utc_and_name_the_bad_field() -> None:
    assert parse_preferences() == Preferences((), Frequency.DAILY, 8, "UTC")
    weekly = parse_preferences(topics=["cat:cs.LG"], frequency="weekly", send_hour="6",
                               time_zone="Asia/Tokyo")
    assert weekly == Preferences(("cat:cs.LG",), Frequency.WEEKLY, 6, "Asia/Tokyo")
    assert parse_preferences(time_zone="").time_zone == "UTC"  # no zone reported: UTC
    for fields, field in (({"frequency": "hourly"}, "frequency"), ({"send_hour": 30}, "send_hour"),
                          ({"time_zone": "Nowhere"}, "time_zone"), ({"topics": ["x\ny"]}, "topics")):
        with pytest.raises(InvalidInput) as refused:
            parse_preferences(**fields)  # type: ignore[arg-type]
        assert refused.value.field == field
