"""Rules for readers' votes and saves: how many changes an account and a network address may
make in a minute and in a day, what a refusal says, and how an address is grouped for counting.
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

MINUTE = timedelta(minutes=1)
DAY = timedelta(days=1)
# Actions older than this count against no limit and may be deleted.
LONGEST_PERIOD = DAY


class Counter(StrEnum):
    """Whose actions a limit counts."""

    ACCOUNT = "account"
    ADDRESS = "address"


@dataclass(frozen=True)
class RateRule:
    """At most `count` actions by one `counter` in any `period` (0: no limit)."""

    counter: Counter
    count: int
    period: timedelta

    @property
    def words(self) -> str:
        per = "minute" if self.period == MINUTE else "day"
        who = "an account" if self.counter is Counter.ACCOUNT else "a network address"
        return f"{self.count} changes a {per} from {who}"


@dataclass(frozen=True)
class VoteLimits:
    """The numbers come from the settings (`PAPERCAST_VOTES_PER_*`)."""

    per_account_per_minute: int = 10
    per_account_per_day: int = 200
    per_address_per_minute: int = 30
    per_address_per_day: int = 1000

    def rules(self) -> list[RateRule]:
        rules = [RateRule(Counter.ACCOUNT, self.per_account_per_minute, MINUTE),
                 RateRule(Counter.ACCOUNT, self.per_account_per_day, DAY),
                 RateRule(Counter.ADDRESS, self.per_address_per_minute, MINUTE),
                 RateRule(Counter.ADDRESS, self.per_address_per_day, DAY)]
        return [rule for rule in rules if rule.count > 0]


def seconds_until_allowed(rule: RateRule, nth_newest: datetime | None, now: datetime) -> int | None:
    """None when one more action keeps within `rule`; else the whole seconds until it would.

    `nth_newest` is the time of the `rule.count`-th newest action inside the period (None when
    there are fewer): once it leaves the period, there is room for one more.
    """
    if nth_newest is None:
        return None
    return max(1, math.ceil((nth_newest + rule.period - now).total_seconds()))


def address_group(address: str) -> str:
    """The part of a client address that limits count by: an IPv4 address whole, an IPv6
    address by its /64 (one subscriber's network hands out a whole /64 and rotates within it).
    Anything else (a test client's name, a Unix socket) is counted as given."""
    try:
        parsed = ipaddress.ip_address(address.strip())
    except ValueError:
        return address.strip()[:100] or "unknown"
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:  # ::ffff:192.0.2.1 is that IPv4 address
            return str(parsed.ipv4_mapped)
        return str(ipaddress.IPv6Network((parsed, 64), strict=False))
    return str(parsed)
