"""The fields of Twilio's webhook forms that the server uses, and their shapes. Pure.

Checked after the signature: Twilio signs ``url + k1v1k2v2…`` with no separators, so a
signed form can still hold a re-partitioned field, and only shapes tell.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from app.telephony import sids

Form = dict[str, str]


@dataclass(frozen=True)
class Field:
    """A form field the server uses, and the shape Twilio gives it."""

    check: Callable[[str], bool]
    shape: str
    required: bool = False


def _matches(pattern: str) -> Callable[[str], bool]:
    compiled = re.compile(pattern)
    return lambda value: compiled.fullmatch(value) is not None


CALL = Field(sids.is_twilio_call_sid, "CA followed by 32 hex digits", required=True)
ACCOUNT = Field(sids.is_account_sid, "AC followed by 32 hex digits")
ADDRESS = Field(sids.is_address, "a phone number (+15551234567), client:name or sip:address")
DIRECTION = Field(_matches("[a-z-]{1,32}"), "inbound, outbound-api or outbound-dial")
STREAM = Field(sids.is_stream_sid, "MZ followed by 32 hex digits")
STREAM_EVENT = Field(
    _matches("stream-(started|stopped|error)"), "stream-started, stream-stopped or stream-error"
)
TEXT = Field(lambda value: len(value) <= 1000, "at most 1000 characters")
STATUS = Field(_matches("[a-z-]{1,32}"), "a call status like in-progress or completed")
DURATION = Field(_matches("[0-9]{1,9}"), "a whole number of seconds")
CALL_FIELDS = {"CallSid": CALL, "AccountSid": ACCOUNT, "From": ADDRESS, "To": ADDRESS}
INCOMING_FIELDS = {**CALL_FIELDS, "Direction": DIRECTION}
STREAM_FIELDS = {
    "CallSid": CALL,
    "AccountSid": ACCOUNT,
    "StreamSid": STREAM,
    "StreamEvent": STREAM_EVENT,
    "StreamError": TEXT,
}
STATUS_FIELDS = {**CALL_FIELDS, "CallStatus": STATUS, "CallDuration": DURATION}


def form_problem(form: Form, fields: dict[str, Field], account_sid: str | None) -> str | None:
    """What is wrong with a webhook's form, in a sentence; None if nothing is."""
    for name, field in fields.items():
        value = form.get(name)
        if value is None:
            if field.required:
                return f"{name} is missing"
        elif not field.check(value):
            return f"{name} must be {field.shape}"
    if account_sid is not None and form.get("AccountSid") != account_sid:
        return "AccountSid is not this server's Twilio account (TWILIO_ACCOUNT_SID)"
    return None
