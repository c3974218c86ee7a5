from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.errors import TokenRejected
from app.telephony import stream_tokens
from app.telephony.stream_tokens import StreamTokens

CALL = "CA" + "1" * 32


def tokens() -> StreamTokens:
    return StreamTokens(secret=b"s" * 32, ttl_s=60)


def test_a_token_is_accepted_once_for_its_call() -> None:
    t = tokens()
    token = t.issue(CALL, now=1000)
    assert t.outstanding(1000) == 1
    t.redeem(token, CALL, now=1010)
    assert t.outstanding(1010) == 0
    with pytest.raises(TokenRejected, match="already used"):
        t.redeem(token, CALL, now=1011)


def test_a_token_for_another_call_is_refused() -> None:
    t = tokens()
    with pytest.raises(TokenRejected, match="does not match"):
        t.redeem(t.issue(CALL, now=0), "CA" + "2" * 32, now=1)


def test_an_expired_token_is_refused() -> None:
    t = tokens()
    token = t.issue(CALL, now=0)
    with pytest.raises(TokenRejected, match="expired"):
        t.redeem(token, CALL, now=61)


def test_another_secret_cannot_mint_tokens() -> None:
    forged = StreamTokens(secret=b"x" * 32).issue(CALL, now=0)
    with pytest.raises(TokenRejected, match="does not match"):
        tokens().redeem(forged, CALL, now=1)


def test_a_tampered_expiry_is_refused() -> None:
    t = tokens()
    expiry, nonce, mac = t.issue(CALL, now=0).split(".")
    with pytest.raises(TokenRejected):
        t.redeem(f"{int(expiry) + 3600}.{nonce}.{mac}", CALL, now=100)


@given(st.text(max_size=80))
def test_garbage_is_refused_cleanly(garbage: str) -> None:
    with pytest.raises(TokenRejected):
        tokens().redeem(garbage, CALL, now=0)


def rejected(t: StreamTokens, token: str, call_sid: str, now: float) -> str:
    with pytest.raises(TokenRejected) as error:
        t.redeem(token, call_sid, now=now)
    return error.value.reason


@pytest.mark.parametrize(
    "token",
    ["", "1.2.3", "60." + "A" * 16 + "." + "A" * 42, "60." + "A" * 15 + "." + "A" * 43],
)
def test_a_malformed_token_says_so(token: str) -> None:
    assert rejected(tokens(), token, CALL, now=0) == "malformed stream token"


def test_each_refusal_says_exactly_why() -> None:
    t = tokens()
    token = t.issue(CALL, now=0)
    assert rejected(t, token, "CA" + "2" * 32, 1) == "stream token does not match this call"
    assert rejected(t, token, CALL, 61) == "stream token expired"
    token = t.issue(CALL, now=100)
    t.redeem(token, CALL, now=101)
    assert rejected(t, token, CALL, 102) == "stream token already used"


def test_a_token_is_good_up_to_and_including_its_expiry_second() -> None:
    t = tokens()
    token = t.issue(CALL, now=1000.5)  # expiry: int(1060.5) = 1060
    assert t.pending(1060) == {CALL}
    assert t.pending(1060.25) == set()
    token = t.issue(CALL, now=1000)
    assert t.pending(1060) == {CALL}
    t.redeem(token, CALL, now=1060)
    assert rejected(t, token, CALL, 1060) == "stream token already used"


def test_a_newer_token_for_a_call_supersedes_the_older() -> None:
    t = tokens()
    old = t.issue(CALL, now=0)
    new = t.issue(CALL, now=1)
    assert t.outstanding(1) == 1
    superseded = "stream token superseded by a newer one for this call"
    assert rejected(t, old, CALL, 2) == superseded
    t.redeem(new, CALL, now=2)
    assert t.outstanding(2) == 0


def test_another_process_with_the_same_secret_can_issue_the_token() -> None:
    issuer, checker = tokens(), tokens()
    other = "CA" + "4" * 32
    checker.issue(other, now=0)  # the checker's own pending call stays pending
    checker.redeem(issuer.issue(CALL, now=0), CALL, now=1)
    assert checker.pending(1) == {other}


def test_expired_tokens_are_forgotten_when_the_next_is_issued() -> None:
    t = tokens()
    used = t.issue(CALL, now=0)
    t.redeem(used, CALL, now=1)
    t.issue("CA" + "5" * 32, now=0)
    t.issue("CA" + "6" * 32, now=100)
    assert t.pending(100) == {"CA" + "6" * 32}
    assert t._used == {}


def test_the_token_is_expiry_nonce_and_the_mac_of_a_json_list(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The format is shared by every process of a deployment: it must not drift."""
    nonce_bytes = bytes(11) + b"\x17"  # base64url "AAAAAAAAAAAAAAAX": ends in X
    monkeypatch.setattr(secrets, "token_bytes", lambda n: nonce_bytes[:n])
    secret = b"s" * 32
    token = StreamTokens(secret=secret, ttl_s=60).issue(CALL, now=1000.9)
    message = json.dumps(["stream-token-v2", CALL, 1060, "AAAAAAAAAAAAAAAX"]).encode()
    mac = base64.urlsafe_b64encode(hmac.new(secret, message, hashlib.sha256).digest())
    assert token == "1060.AAAAAAAAAAAAAAAX." + mac.decode().rstrip("=")
    assert len(token.split(".")[2]) == 43


@given(st.binary(min_size=0, max_size=40))
def test_base64url_without_padding(data: bytes) -> None:
    text = stream_tokens._b64(data)
    assert "=" not in text
    assert base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)) == data


# the seal over the stream's parameters, and a rotated secret


def test_the_seal_covers_the_call_and_each_vouched_parameter() -> None:
    params = {"from": "+15550100001", "to": "+15550100002", "direction": "inbound"}
    sealed = {**params, "seal": stream_tokens.seal(b"k" * 32, CALL, params)}
    assert stream_tokens.SEALED == ("from", "to", "direction")
    assert stream_tokens.seal_matches((b"k" * 32,), CALL, sealed)
    assert stream_tokens.seal_matches((b"x" * 32, b"k" * 32), CALL, sealed)  # previous key
    assert not stream_tokens.seal_matches((b"x" * 32,), CALL, sealed)
    assert not stream_tokens.seal_matches((b"k" * 32,), "CA" + "2" * 32, sealed)
    for name in stream_tokens.SEALED:
        assert not stream_tokens.seal_matches((b"k" * 32,), CALL, {**sealed, name: "+1999"})
    assert not stream_tokens.seal_matches((b"k" * 32,), CALL, params)  # no seal at all
    # Parameters outside the seal do not change it; missing ones count as empty.
    assert stream_tokens.seal_matches((b"k" * 32,), CALL, {**sealed, "callSid": "x"})
    empty = stream_tokens.seal(b"k" * 32, CALL, {})
    assert empty == stream_tokens.seal(b"k" * 32, CALL, {"from": "", "to": "", "direction": ""})
    assert len(stream_tokens.seal(b"k" * 32, CALL, params)) == 43


def test_a_token_under_the_previous_secret_is_accepted_until_the_rotation_ends() -> None:
    old = StreamTokens(secret=b"o" * 32, ttl_s=60).issue(CALL, now=1000)
    rotated = StreamTokens(b"n" * 32, 60, previous=b"o" * 32, previous_until=1030)
    assert rotated.secrets(1029) == (b"n" * 32, b"o" * 32)
    assert rotated.secrets(1030) == (b"n" * 32,)
    rotated.redeem(old, CALL, now=1010)
    late = StreamTokens(secret=b"o" * 32, ttl_s=60).issue(CALL, now=1000)
    with pytest.raises(TokenRejected, match="does not match"):
        rotated.redeem(late, CALL, now=1031)
    new = rotated.issue(CALL, now=1040)
    assert StreamTokens(b"n" * 32).secrets(0) == (b"n" * 32,)
    rotated.redeem(new, CALL, now=1041)


def test_the_seal_is_pinned() -> None:
    """The seal's exact construction: a format change must be deliberate (processes of a
    deployment restarted one by one must agree)."""
    params = {"from": "+15550100001", "to": "+15550100002", "direction": "outbound"}
    message = json.dumps(["stream-parameters-v1", CALL, list(params.values())]).encode()
    digest = hmac.new(b"k" * 32, message, hashlib.sha256).digest()
    expected = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    assert stream_tokens.seal(b"k" * 32, CALL, params) == expected
