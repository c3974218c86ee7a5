"""Sealed messages: opened only with the deployment's secret, for their purpose, before
their expiry; anything else is an UntrustedMessage with its reason."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.errors import UntrustedMessage
from app.registry.sealed import MAX_SEALED, Opened, Seal

SEAL = Seal(b"k" * 32)


def test_a_message_opens_with_its_body_nonce_and_expiry() -> None:
    sealed = SEAL.seal("control", {"call": "CA1", "n": 3}, now=100.0, ttl_s=5)
    opened = SEAL.open("control", sealed, now=104.999)
    assert opened == Opened({"call": "CA1", "n": 3}, opened.nonce, 105_000)
    assert len(opened.nonce) == 16
    assert SEAL.open("control", sealed.encode(), now=105.0).body == {"call": "CA1", "n": 3}


def test_without_a_ttl_it_never_expires_and_nonces_differ() -> None:
    first = SEAL.seal("after", {"call": "CA1"}, now=100.0)
    second = SEAL.seal("after", {"call": "CA1"}, now=100.0)
    assert first != second
    assert SEAL.open("after", first, now=1e12).expires_ms == 0
    assert SEAL.open("after", first, now=1e12).nonce != SEAL.open("after", second, 0).nonce


def reason(sealed: str | bytes, purpose: str = "control", now: float = 100.0) -> str:
    with pytest.raises(UntrustedMessage) as refused:
        SEAL.open(purpose, sealed, now)
    return refused.value.reason


def test_what_is_refused_and_why() -> None:
    good = SEAL.seal("control", {"x": 1}, now=100.0, ttl_s=1)
    mac, _, text = good.partition(".")
    assert reason(good, now=101.001) == "expired"
    assert reason(good, purpose="reply") == "sealed for 'control', not 'reply'"
    assert reason(Seal(b"x" * 32).seal("control", {"x": 1}, 100.0)) == (
        "wrong MAC (not sealed with this deployment's secret)"
    )
    tampered = json.loads(text)
    tampered["body"]["x"] = 2
    assert reason(mac + "." + json.dumps(tampered, separators=(",", ":"))).startswith("wrong MAC")
    assert reason("no dot here") == "not a sealed message"
    assert reason(b"\xff.\xfe") == "not a sealed message"
    assert reason("a." + "x" * MAX_SEALED) == "too long for a sealed message"
    assert SEAL.open("control", good, now=101.0).body == {"x": 1}  # the last millisecond


def test_the_mac_covers_exactly_the_text_after_the_first_dot() -> None:
    sealed = SEAL.seal("p", {"text": "a.b.c"}, now=0.0)
    assert SEAL.open("p", sealed, 0.0).body == {"text": "a.b.c"}


@given(st.binary(max_size=200))
def test_random_bytes_are_refused_never_crash(data: bytes) -> None:
    with pytest.raises(UntrustedMessage):
        SEAL.open("control", data, 0.0)


def test_the_sealed_form_is_compact_ascii_with_an_unpadded_mac() -> None:
    sealed = SEAL.seal("say", {"text": "café ☎"}, now=0.0)
    mac, _, text = sealed.partition(".")
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", mac)  # 32 bytes, base64url, no "="
    assert sealed.isascii() and ", " not in text and '": ' not in text
    # Redis hands it back as bytes: the text survives, whatever its alphabet.
    assert SEAL.open("say", sealed.encode("ascii"), 0.0).body == {"text": "café ☎"}


def test_the_length_limit_is_exclusive() -> None:
    at_limit = "a." + "x" * (MAX_SEALED - 2)
    assert len(at_limit) == MAX_SEALED
    assert reason(at_limit).startswith("wrong MAC")  # read, not refused for its length


def test_while_the_secret_is_rotated_the_previous_one_opens_until_its_time() -> None:
    old, new = Seal(b"o" * 32), Seal(b"n" * 32, previous=b"o" * 32, previous_until=200.0)
    sealed = old.seal("control", {"x": 1}, now=100.0)  # by a process not yet restarted
    assert new.open("control", sealed, now=199.999).body == {"x": 1}
    with pytest.raises(UntrustedMessage, match="wrong MAC"):
        new.open("control", sealed, now=200.0)
    assert new.open("control", new.seal("control", {"x": 2}, 300.0), 300.0).body == {"x": 2}
    # during the rotation, what the restarted processes seal opens too
    assert new.open("control", new.seal("control", {"x": 3}, 150.0), 150.0).body == {"x": 3}
    with pytest.raises(UntrustedMessage, match="wrong MAC"):
        old.open("control", new.seal("control", {}, 100.0), 100.0)  # new seals with the new
