"""Twilio's webhook forms, after the signature: each used field must have its shape."""

from __future__ import annotations

import pytest

from app.telephony.forms import (
    CALL_FIELDS,
    INCOMING_FIELDS,
    STATUS_FIELDS,
    STREAM_FIELDS,
    _matches,
    form_problem,
)

CALL = "CA" + "ab" * 16
ACCOUNT = "AC" + "cd" * 16
STREAM = "MZ" + "ef" * 16


@pytest.mark.parametrize(
    ("form", "problem"),
    [
        ({"CallSid": CALL, "AccountSid": ACCOUNT, "From": "+15550100001"}, None),
        ({"CallSid": CALL, "From": "client:alice", "To": "sip:bot@example.com"}, None),
        ({"CallSid": CALL, "From": "anonymous", "Direction": "outbound-api"}, None),
        ({}, "CallSid is missing"),
        ({"AccountSid": f"{ACCOUNT}CallSid{CALL}"}, "CallSid is missing"),  # re-partitioned
        ({"CallSid": "CA1"}, "CallSid must be CA followed by 32 hex digits"),
        ({"CallSid": "SP" + "a" * 32}, "CallSid must be CA followed by 32 hex digits"),
        ({"CallSid": CALL, "AccountSid": "AC1"}, "AccountSid must be AC followed by 32 hex digits"),
        (
            {"CallSid": CALL, "From": "+1 555 <0100>"},
            "From must be a phone number (+15551234567), client:name or sip:address",
        ),
        (
            {"CallSid": CALL, "To": "+15550100002\n"},
            "To must be a phone number (+15551234567), client:name or sip:address",
        ),
        (
            {"CallSid": CALL, "Direction": "Inbound!"},
            "Direction must be inbound, outbound-api or outbound-dial",
        ),
    ],
)
def test_incoming_call_forms(form: dict[str, str], problem: str | None) -> None:
    assert form_problem(form, INCOMING_FIELDS, None) == problem


def test_with_an_account_configured_only_its_calls_pass() -> None:
    mine = {"CallSid": CALL, "AccountSid": ACCOUNT}
    assert form_problem(mine, CALL_FIELDS, ACCOUNT) is None
    theirs = {"CallSid": CALL, "AccountSid": "AC" + "99" * 16}
    wrong = "AccountSid is not this server's Twilio account (TWILIO_ACCOUNT_SID)"
    assert form_problem(theirs, CALL_FIELDS, ACCOUNT) == wrong
    assert form_problem({"CallSid": CALL}, CALL_FIELDS, ACCOUNT) == wrong  # none given
    assert form_problem({"CallSid": CALL}, CALL_FIELDS, None) is None


@pytest.mark.parametrize(
    ("form", "problem"),
    [
        ({"CallSid": CALL, "StreamSid": STREAM, "StreamEvent": "stream-error"}, None),
        ({"CallSid": CALL, "StreamEvent": "stream-started", "StreamError": "x" * 1000}, None),
        (
            {"CallSid": CALL, "StreamError": "x" * 1001},
            "StreamError must be at most 1000 characters",
        ),
        ({"CallSid": CALL, "StreamSid": "MZ1"}, "StreamSid must be MZ followed by 32 hex digits"),
        (
            {"CallSid": CALL, "StreamEvent": "stream-paused"},
            "StreamEvent must be stream-started, stream-stopped or stream-error",
        ),
    ],
)
def test_stream_status_forms(form: dict[str, str], problem: str | None) -> None:
    assert form_problem(form, STREAM_FIELDS, None) == problem


@pytest.mark.parametrize(
    ("form", "problem"),
    [
        ({"CallSid": CALL, "CallStatus": "completed", "CallDuration": "42"}, None),
        (
            {"CallSid": CALL, "CallDuration": "4.2"},
            "CallDuration must be a whole number of seconds",
        ),
        (
            {"CallSid": CALL, "CallDuration": "1" * 10},
            "CallDuration must be a whole number of seconds",
        ),
        (
            {"CallSid": CALL, "CallStatus": "Completed"},
            "CallStatus must be a call status like in-progress or completed",
        ),
    ],
)
def test_call_status_forms(form: dict[str, str], problem: str | None) -> None:
    assert form_problem(form, STATUS_FIELDS, None) == problem


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("in-progress", True),
        ("a", True),
        ("a" * 32, True),
        ("a" * 33, False),
        ("", False),
        ("In-progress", False),
        ("completed\n", False),
        (" completed", False),
        ("completed;busy", False),
    ],
)
def test_a_shape_is_the_whole_value_matching_its_pattern(value: str, ok: bool) -> None:
    """The fields' checks are built by ``_matches`` when the module loads: it is tested
    here on its own, as it cannot be mutated under the fields already built with it."""
    assert _matches("[a-z-]{1,32}")(value) is ok


def test_each_field_check_is_its_own_pattern() -> None:
    digits, event = _matches("[0-9]{1,9}"), _matches("stream-(started|stopped|error)")
    assert (digits("0"), digits("123456789"), digits("1234567890"), digits("-1")) == (
        True,
        True,
        False,
        False,
    )
    assert (event("stream-error"), event("stream-"), event("stream-errors")) == (
        True,
        False,
        False,
    )
