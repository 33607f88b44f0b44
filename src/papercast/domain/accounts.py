"""Readers' accounts as data and rules: addresses, account states, sessions, API tokens and scopes,
and the limits on sign-in mail. Storage and the web only carry out what is decided here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from papercast.domain.errors import InvalidInput
from papercast.domain.mail import parse_mailbox

MAX_EMAIL_LENGTH = 254  # RFC 5321's limit on a forward path, less the angle brackets
MAX_TOKEN_NAME_LENGTH = 100
API_TOKEN_PREFIX = "pct_"
# How many characters of an API token are kept in clear to tell tokens apart in a list.
API_TOKEN_SHOWN = len(API_TOKEN_PREFIX) + 6
# A session's last-seen time is written at most this often (a write per request would queue
# every signed-in page behind SQLite's one writer).
SESSION_TOUCH_INTERVAL = timedelta(minutes=5)
SIGN_IN_PURPOSE = "sign-in"
RATE_WINDOW = timedelta(hours=1)


class UserState(StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"  # by an operator: cannot sign in, sessions and tokens stop working
    DELETED = "deleted"  # by the reader: address and personal data gone, the row kept for votes


class Scope(StrEnum):
    """What a credential may do. A session may do everything its reader may."""

    READ = "read"
    WRITE = "write"

    def allows(self, needed: Scope) -> bool:
        return self is Scope.WRITE or needed is Scope.READ


class Via(StrEnum):
    SESSION = "session"
    TOKEN = "token"


@dataclass(frozen=True)
class User:
    id: int
    email: str | None  # None once deleted
    state: UserState
    is_admin: bool
    created_at: datetime
    last_sign_in_at: datetime | None


@dataclass(frozen=True)
class Reader:
    """Who is making a request, and through what: a session (cookie) or an API token."""

    user_id: int
    email: str
    is_admin: bool
    via: Via
    scope: Scope
    credential_id: int  # the session's or the token's id

    def may(self, needed: Scope) -> bool:
        return self.scope.allows(needed)


@dataclass(frozen=True)
class SessionInfo:
    id: int
    user_id: int
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    user_agent: str


@dataclass(frozen=True)
class ApiTokenInfo:
    id: int
    user_id: int
    name: str
    prefix: str
    scope: Scope
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True)
class LinkRecord:
    """A single-use link: what it is for, who it is for (an address, an id), when it ends."""

    id: int
    purpose: str
    subject: str
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None


@dataclass(frozen=True)
class SignInPolicy:
    """How sign-in behaves; the numbers come from the settings."""

    link_max_age: timedelta = timedelta(minutes=30)
    session_lifetime: timedelta = timedelta(days=30)
    per_address_per_hour: int = 3  # 0: no limit
    per_ip_per_hour: int = 10  # 0: no limit
    open_sign_up: bool = True  # unknown addresses get an account at their first sign-in


def normalise_email(text: str, field: str = "email") -> str:
    """One bare address, lower-cased (the form of every lookup), or InvalidInput naming `field`.

    Lower-casing the local part is not what RFC 5321 promises, but it is what every mail
    provider does in practice, and two accounts for `Ann@x.org` and `ann@x.org` would surprise.
    """
    cleaned = text.strip()
    if not cleaned:
        raise InvalidInput("an email address is needed", field=field)
    if len(cleaned) > MAX_EMAIL_LENGTH:
        raise InvalidInput(f"an email address has at most {MAX_EMAIL_LENGTH} characters", field=field)
    mailbox = parse_mailbox(cleaned, field)
    if mailbox.display_name or "<" in cleaned:
        raise InvalidInput(f"{cleaned!r}: give the bare address, like name@example.org", field=field)
    if "." not in mailbox.domain:
        raise InvalidInput(f"{cleaned!r}: the domain {mailbox.domain!r} has no dot", field=field)
    return mailbox.address.lower()


def token_name(text: str) -> str:
    """An API token's name as stored: one line, trimmed, not empty, not too long."""
    name = " ".join(text.split())
    if not name:
        raise InvalidInput("give the token a name (what script uses it)", field="name")
    if len(name) > MAX_TOKEN_NAME_LENGTH:
        raise InvalidInput(f"a token name has at most {MAX_TOKEN_NAME_LENGTH} characters", field="name")
    return name


def parse_scope(text: str) -> Scope:
    try:
        return Scope(text.strip().lower())
    except ValueError as error:
        raise InvalidInput(f"{text!r} is not a scope: read or write", field="scope") from error


_BROWSERS = (("Edg/", "Edge"), ("OPR/", "Opera"), ("Firefox/", "Firefox"), ("Chrome/", "Chrome"),
             ("Safari/", "Safari"), ("curl/", "curl"), ("python", "Python"))
_SYSTEMS = (("Android", "Android"), ("iPhone", "iOS"), ("iPad", "iOS"), ("Windows", "Windows"),
            ("Mac OS X", "macOS"), ("Linux", "Linux"))
_UNPRINTABLE = re.compile(r"[^\x20-\x7e]")


def user_agent_summary(user_agent: str) -> str:
    """"Firefox on Linux": enough for a reader to recognise a session, and no more of the header kept."""
    browser = next((name for marker, name in _BROWSERS if marker in user_agent), "")
    system = next((name for marker, name in _SYSTEMS if marker in user_agent), "")
    if browser and system:
        return f"{browser} on {system}"
    return browser or system or _UNPRINTABLE.sub("", user_agent)[:40] or "unknown"
