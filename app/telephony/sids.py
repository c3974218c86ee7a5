"""The shapes of identifiers and numbers that enter from outside. Pure.

Every SID that reaches the server (a webhook's form, a stream's ``start``, an
operator's path) is checked here before it is used as a key, in a file name or in a
log line, so a value like ``../x`` or ``CA…|99999`` can never be one.
"""

from __future__ import annotations

import re

HEX32 = "[0-9a-fA-F]{32}"
CALL_SID = re.compile(f"CA{HEX32}")  # a Twilio call
SOFTPHONE_SID = re.compile("SP[0-9a-f]{32}")  # a softphone call (the server makes these)
ACCOUNT_SID = re.compile(f"AC{HEX32}")
# Twilio documents MZ + 32 hex; a real 2020 <Connect><Stream> capture carried a UUID.
STREAM_SID = re.compile(
    f"MZ{HEX32}|[0-9a-f]{{8}}-[0-9a-f]{{4}}-[0-9a-f]{{4}}-[0-9a-f]{{4}}-[0-9a-f]{{12}}"
)
E164 = re.compile(r"\+[1-9][0-9]{6,14}")
# What Twilio puts in From/To besides E.164: a Voice SDK client, a SIP address, or a
# withheld number ("anonymous", "restricted", "unknown", "private", "266696687").
ADDRESS = re.compile(r"client:[\w.@+-]{1,100}|sip:[\w.@:;=+-]{1,200}|[A-Za-z0-9+]{1,20}")


def is_call_sid(value: str) -> bool:
    """A Twilio CallSid or one of the softphone's."""
    return bool(CALL_SID.fullmatch(value) or SOFTPHONE_SID.fullmatch(value))


def is_softphone(call_sid: str) -> bool:
    return call_sid.startswith("SP")


def is_twilio_call_sid(value: str) -> bool:
    return bool(CALL_SID.fullmatch(value))


def is_stream_sid(value: str) -> bool:
    return bool(STREAM_SID.fullmatch(value))


def is_account_sid(value: str) -> bool:
    return bool(ACCOUNT_SID.fullmatch(value))


def is_address(value: str) -> bool:
    """A caller or called party as Twilio gives it (a number, a client, a SIP URI)."""
    return bool(E164.fullmatch(value) or ADDRESS.fullmatch(value))
