"""The shapes of SIDs and addresses: the exact ones Twilio documents, and the near
misses a loose pattern (a prefix match, a missing anchor, a wrong length) would let in."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.telephony import sids

HEX = "0123456789abcdef"
HEX32 = "0123456789abcdef0123456789ABCDEF"
UUID = "3f2b8c1e-9a4d-4e6f-8b7a-0c1d2e3f4a5b"

hex32 = st.text(alphabet="0123456789abcdefABCDEF", min_size=32, max_size=32)
lower_hex32 = st.text(alphabet=HEX, min_size=32, max_size=32)


@pytest.mark.parametrize(
    ("value", "twilio", "any_call"),
    [
        ("CA" + HEX32, True, True),
        ("CA" + "0" * 32, True, True),
        ("SP" + "a" * 32, False, True),
        ("SP" + "0123456789abcdef" * 2, False, True),
        ("SP" + "A" * 32, False, False),  # the server writes softphone SIDs in lower case
        ("CA" + "0" * 31, False, False),
        ("CA" + "0" * 33, False, False),
        ("ca" + "0" * 32, False, False),
        ("CA" + "g" * 32, False, False),
        ("CA" + "0" * 32 + "\n", False, False),
        (" CA" + "0" * 32, False, False),
        ("CA" + "0" * 32 + "|99999", False, False),
        ("../x", False, False),
        ("", False, False),
        ("SP" + "0" * 31, False, False),
        ("SP" + "0" * 33, False, False),
        ("AC" + "0" * 32, False, False),
        ("MZ" + "0" * 32, False, False),
    ],
)
def test_call_sids(value: str, twilio: bool, any_call: bool) -> None:
    assert sids.is_twilio_call_sid(value) is twilio
    assert sids.is_call_sid(value) is any_call


@given(hex32)
def test_every_ca_plus_32_hex_is_a_twilio_call(digits: str) -> None:
    assert sids.is_twilio_call_sid("CA" + digits) is True
    assert sids.is_call_sid("CA" + digits) is True
    assert sids.is_softphone("CA" + digits) is False


@given(lower_hex32)
def test_every_sp_plus_32_lower_hex_is_a_softphone_call(digits: str) -> None:
    assert sids.is_call_sid("SP" + digits) is True
    assert sids.is_twilio_call_sid("SP" + digits) is False
    assert sids.is_softphone("SP" + digits) is True


@given(st.text(max_size=40))
def test_a_call_sid_is_only_ever_ca_or_sp_and_34_long(value: str) -> None:
    if sids.is_call_sid(value):
        assert len(value) == 34
        assert value[:2] in ("CA", "SP")
        assert all(c in HEX + "ABCDEF" for c in value[2:])


@pytest.mark.parametrize(
    ("value", "softphone"),
    [
        ("SP" + "0" * 32, True),
        ("SP", True),
        ("SPx", True),
        ("CA" + "0" * 32, False),
        ("sp" + "0" * 32, False),
        ("xSP", False),
        ("", False),
    ],
)
def test_softphone_is_told_by_its_prefix(value: str, softphone: bool) -> None:
    assert sids.is_softphone(value) is softphone


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("MZ" + HEX32, True),
        ("MZ" + "f" * 32, True),
        (UUID, True),
        ("00000000-0000-0000-0000-000000000000", True),
        (UUID.upper(), False),  # the capture's UUID was lower case
        (UUID[:-1], False),
        (UUID + "0", False),
        (UUID.replace("-", ""), False),
        ("MZ" + "0" * 31, False),
        ("MZ" + "0" * 33, False),
        ("mz" + "0" * 32, False),
        ("MZ" + "0" * 32 + "\n", False),
        ("CA" + "0" * 32, False),
        ("", False),
    ],
)
def test_stream_sids(value: str, ok: bool) -> None:
    assert sids.is_stream_sid(value) is ok


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("AC" + HEX32, True),
        ("AC" + "0" * 32, True),
        ("AC" + "0" * 31, False),
        ("AC" + "0" * 33, False),
        ("ac" + "0" * 32, False),
        ("AC" + "0" * 32 + "/", False),
        ("CA" + "0" * 32, False),
        ("", False),
    ],
)
def test_account_sids(value: str, ok: bool) -> None:
    assert sids.is_account_sid(value) is ok


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("+15551234567", True),
        ("+1234567", True),  # the shortest E.164 the pattern allows
        ("+123456789012345", True),  # the longest: 15 digits
        ("+1234567890123456", True),  # too long for E.164 but fine as a plain address
        ("+0555123456", True),  # likewise: [A-Za-z0-9+]
        ("anonymous", True),
        ("restricted", True),
        ("266696687", True),
        ("client:alice", True),
        ("client:a.b@c+d-e_f", True),
        ("client:" + "a" * 100, True),
        ("client:" + "a" * 101, False),
        ("client:", False),
        ("sip:alice@example.com:5060;transport=tls", True),
        ("sip:" + "a" * 200, True),
        ("sip:" + "a" * 201, False),
        ("a" * 20, True),
        ("a" * 21, False),
        ("+1 555 123 4567", False),
        ("../x", False),
        ("alice|bob", False),
        ("+15551234567\n", False),
        ("", False),
    ],
)
def test_addresses(value: str, ok: bool) -> None:
    assert sids.is_address(value) is ok


def test_a_number_and_a_client_are_each_an_address() -> None:
    # A number matches E.164; a client: name matches only the other pattern: both
    # must be accepted, so the two patterns are alternatives, not both required.
    assert sids.E164.fullmatch("+15551234567")
    assert sids.is_address("+15551234567") is True
    assert not sids.E164.fullmatch("client:alice")
    assert sids.is_address("client:alice") is True
