"""Signed, purpose-scoped tokens (links in mail, CSRF tokens) and the hashes secrets are stored as.

A token is `payload.issued.mac`: a JSON object, the second it was signed, and an HMAC-SHA256 of
both under a key derived from the secret key and the token's purpose, so a token made for one
purpose never verifies for another. Tokens are signed with the first key and verified with any:
old keys keep their tokens working while a new key is rolled out.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from papercast.domain.errors import InvalidInput, PapercastError

MIN_KEY_LENGTH = 32
# A token signed this far in the future is refused: clocks of one install disagree by less.
CLOCK_SKEW = timedelta(seconds=60)
_PURPOSE = re.compile(r"[a-z][a-z0-9-]{0,39}")
_ISSUED = re.compile(r"[0-9]{1,12}")


class InvalidToken(PapercastError):
    """A token that is malformed, tampered with, signed by an unknown key or made for another purpose."""


class ExpiredToken(InvalidToken):
    """A token whose signature holds but whose time is over."""


class UsedToken(InvalidToken):
    """A single-use token that was used already."""


@dataclass(frozen=True)
class VerifiedToken:
    payload: dict[str, Any]
    issued_at: datetime


class TokenSigner:
    """Signs and verifies tokens with `keys` (the first signs, every one verifies)."""

    def __init__(self, keys: Sequence[str | bytes]) -> None:
        if not keys:
            raise InvalidInput("a token signer needs at least one key", field="PAPERCAST_SECRET_KEY")
        self._keys = [_key_bytes(key) for key in keys]

    def sign(self, purpose: str, payload: dict[str, Any], issued_at: datetime) -> str:
        """A URL-safe token carrying `payload` for `purpose`, dated `issued_at`."""
        body = f"{_encode(_json(payload))}.{int(issued_at.timestamp())}"
        return f"{body}.{_encode(_mac(self._keys[0], purpose, body))}"

    def verify(self, purpose: str, token: str, now: datetime, max_age: timedelta | None) -> VerifiedToken:
        """The payload of a token this signer made for `purpose`, no older than `max_age` (None:
        any age). `ExpiredToken` when it is too old, `InvalidToken` for anything else wrong."""
        parts = token.split(".")
        if len(parts) != 3 or not _ISSUED.fullmatch(parts[1]):
            raise InvalidToken("the token is not one papercast made")
        body = f"{parts[0]}.{parts[1]}"
        mac = _decode(parts[2])
        if not any(hmac.compare_digest(mac, _mac(key, purpose, body)) for key in self._keys):
            raise InvalidToken("the token's signature does not hold (altered, or made for something else)")
        issued_at = datetime.fromtimestamp(int(parts[1]), UTC)
        if issued_at > now + CLOCK_SKEW:
            raise InvalidToken("the token is dated in the future")
        if max_age is not None and now - issued_at > max_age:
            raise ExpiredToken("the token has expired")
        return VerifiedToken(_payload(_decode(parts[0])), issued_at)

    def digest(self, purpose: str, value: str) -> str:
        """A keyed fingerprint of `value` for `purpose` (hex), made with the current key."""
        return _mac(self._keys[0], purpose, value).hex()

    def matches(self, purpose: str, value: str, digest: str) -> bool:
        """Whether `digest` is `value`'s fingerprint under any key (constant time per key)."""
        given = digest.encode("ascii", "replace")
        return any(hmac.compare_digest(given, _mac(key, purpose, value).hex().encode("ascii"))
                   for key in self._keys)


def new_secret(size: int = 32) -> str:
    """A random, URL-safe secret of `size` bytes (session tokens, API tokens, nonces, keys)."""
    return secrets.token_urlsafe(size)


def secret_hash(secret: str) -> str:
    """How a random secret is stored: its SHA-256 (hex). The secret has 256 bits of entropy, so
    a fast hash is enough; a database copy alone cannot be turned back into working secrets."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _key_bytes(key: str | bytes) -> bytes:
    raw = key.encode("utf-8") if isinstance(key, str) else key
    if len(raw) < MIN_KEY_LENGTH:
        raise InvalidInput(f"a secret key must be at least {MIN_KEY_LENGTH} characters long "
                           "(`openssl rand -base64 48` makes one)", field="PAPERCAST_SECRET_KEY")
    return raw


def _mac(key: bytes, purpose: str, message: str) -> bytes:
    if not _PURPOSE.fullmatch(purpose):
        raise InvalidInput(f"{purpose!r} is not a token purpose (lower-case letters, digits, -)",
                           field="purpose")
    # The purpose is part of the key, not of the message: no message of one purpose can be
    # made to carry the MAC of another.
    derived = hmac.new(key, b"papercast-token:" + purpose.encode("ascii"), hashlib.sha256).digest()
    return hmac.new(derived, message.encode("utf-8"), hashlib.sha256).digest()


def _json(payload: dict[str, Any]) -> bytes:
    try:
        return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    except (TypeError, ValueError) as error:
        raise InvalidInput(f"a token payload must be a JSON object: {error}", field="payload") from error


def _payload(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as error:  # signed by us, so only a bug gets here
        raise InvalidToken("the token's payload is not JSON") from error
    if not isinstance(value, dict):
        raise InvalidToken("the token's payload is not an object")
    return value


def _encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _decode(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as error:
        raise InvalidToken("the token is not one papercast made") from error
