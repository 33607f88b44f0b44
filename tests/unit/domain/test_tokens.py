"""Signed tokens: a round trip for any payload; refused when tampered with, made for another
purpose, signed by an unknown key, expired or dated in the future; old keys still verify."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from papercast.domain.errors import InvalidInput
from papercast.domain.tokens import ExpiredToken, InvalidToken, TokenSigner, secret_hash

KEY = "k" * 32
OTHER_KEY = "o" * 32
NOW = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
HALF_HOUR = timedelta(minutes=30)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8)


@given(payload=st.dictionaries(st.text(max_size=10), json_values, max_size=4))
def test_any_json_object_round_trips(payload: dict[str, object]) -> None:
    signer = TokenSigner([KEY])
    token = signer.sign("sign-in", payload, NOW)
    assert signer.verify("sign-in", token, NOW, HALF_HOUR).payload == payload
    assert token.isascii() and all(part for part in token.split("."))


def test_a_token_is_refused_for_another_purpose() -> None:
    signer = TokenSigner([KEY])
    token = signer.sign("unsubscribe", {"id": 1}, NOW)
    with pytest.raises(InvalidToken, match="signature"):
        signer.verify("sign-in", token, NOW, HALF_HOUR)


def _flip_first_byte(part: str) -> str:
    raw = bytearray(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    raw[0] ^= 1
    return base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode("ascii")


@pytest.mark.parametrize("tamper", [
    lambda p: [_flip_first_byte(p[0]), p[1], p[2]],  # the payload
    lambda p: [p[0], str(int(p[1]) + 1), p[2]],  # the time
    lambda p: [p[0], p[1], _flip_first_byte(p[2])],  # the MAC
    lambda p: [p[0], p[1], p[2] + "A"],
], ids=["payload", "issued", "mac", "longer-mac"])
def test_a_token_changed_in_any_part_is_refused(tamper: Callable[[list[str]], list[str]]) -> None:
    signer = TokenSigner([KEY])
    token = signer.sign("sign-in", {"id": 12, "n": "abc"}, NOW)
    tampered = ".".join(tamper(token.split(".")))
    assert tampered != token
    with pytest.raises(InvalidToken):
        signer.verify("sign-in", tampered, NOW, HALF_HOUR)


def test_a_payload_swapped_between_tokens_is_refused() -> None:
    signer = TokenSigner([KEY])
    mine = signer.sign("sign-in", {"id": 1}, NOW).split(".")
    theirs = signer.sign("sign-in", {"id": 2}, NOW).split(".")
    with pytest.raises(InvalidToken):
        signer.verify("sign-in", ".".join([theirs[0], mine[1], mine[2]]), NOW, HALF_HOUR)


@pytest.mark.parametrize("garbage", ["", "abc", "a.b", "a.b.c.d", "e30.notanumber.xx", "e30.1.%%%", "é.1.x"])
def test_garbage_is_invalid_not_an_error(garbage: str) -> None:
    with pytest.raises(InvalidToken):
        TokenSigner([KEY]).verify("sign-in", garbage, NOW, HALF_HOUR)


def test_a_token_expires_after_its_max_age_and_not_before() -> None:
    signer = TokenSigner([KEY])
    token = signer.sign("sign-in", {"id": 1}, NOW)
    assert signer.verify("sign-in", token, NOW + HALF_HOUR, HALF_HOUR).issued_at == NOW
    with pytest.raises(ExpiredToken):
        signer.verify("sign-in", token, NOW + HALF_HOUR + timedelta(seconds=1), HALF_HOUR)


def test_without_a_max_age_an_old_token_still_verifies() -> None:
    signer = TokenSigner([KEY])
    token = signer.sign("unsubscribe", {"id": 1}, NOW)
    assert signer.verify("unsubscribe", token, NOW + timedelta(days=730), None).payload == {"id": 1}


def test_a_token_dated_in_the_future_is_refused() -> None:
    signer = TokenSigner([KEY])
    token = signer.sign("sign-in", {"id": 1}, NOW + timedelta(minutes=5))
    with pytest.raises(InvalidToken, match="future"):
        signer.verify("sign-in", token, NOW, HALF_HOUR)


def test_another_key_does_not_verify_and_a_rotated_key_does() -> None:
    old = TokenSigner([OTHER_KEY])
    token = old.sign("sign-in", {"id": 1}, NOW)
    with pytest.raises(InvalidToken):
        TokenSigner([KEY]).verify("sign-in", token, NOW, HALF_HOUR)
    rotated = TokenSigner([KEY, OTHER_KEY])
    assert rotated.verify("sign-in", token, NOW, HALF_HOUR).payload == {"id": 1}
    fresh = rotated.sign("sign-in", {"id": 2}, NOW)
    assert TokenSigner([KEY]).verify("sign-in", fresh, NOW, HALF_HOUR).payload == {"id": 2}
    with pytest.raises(InvalidToken):
        old.verify("sign-in", fresh, NOW, HALF_HOUR)


def test_digests_are_per_purpose_and_match_under_old_keys() -> None:
    signer = TokenSigner([KEY])
    digest = signer.digest("csrf", "session-hash")
    assert digest != signer.digest("csrf-anonymous", "session-hash")
    assert signer.matches("csrf", "session-hash", digest)
    assert not signer.matches("csrf", "other", digest)
    assert not signer.matches("csrf", "session-hash", "zz" + digest[2:])
    assert TokenSigner([OTHER_KEY, KEY]).matches("csrf", "session-hash", digest)
    assert not TokenSigner([OTHER_KEY]).matches("csrf", "session-hash", digest)
    assert not signer.matches("csrf", "session-hash", "é")


def test_short_keys_and_odd_purposes_are_refused() -> None:
    with pytest.raises(InvalidInput, match="at least 32"):
        TokenSigner(["short"])
    with pytest.raises(InvalidInput):
        TokenSigner([])
    with pytest.raises(InvalidInput, match="purpose"):
        TokenSigner([KEY]).sign("Sign In", {}, NOW)


def test_secrets_are_stored_as_a_hash_that_differs_from_the_secret() -> None:
    assert secret_hash("abc") == secret_hash("abc") != secret_hash("abd")
    assert len(secret_hash("abc")) == 64 and "abc" not in secret_hash("abc")
