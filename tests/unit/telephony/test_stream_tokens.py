from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.errors import TokenRejected
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
