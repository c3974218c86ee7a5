"""What crosses between the processes of a fleet, as plain JSON bodies: an operator's
control and the call's reply, and what the ``<Connect action>`` must answer. Pure.

Only the operator's controls (:data:`~app.call.controls.OPERATOR_CONTROLS`) cross; a
body naming anything else is refused. A reply that means "not started" or "ended" is
decoded to the very constants the operator API compares with.
"""

from __future__ import annotations

from typing import Any

from app.call.controls import (
    ACCEPTED,
    ENDED,
    NOT_STARTED,
    OPERATOR_CONTROLS,
    Control,
    EndCall,
    Reply,
    Say,
    TransferTo,
)
from app.errors import UntrustedMessage
from app.registry.base import AfterStream, Apologise, Dial

KNOWN_REPLIES = (ACCEPTED, NOT_STARTED, ENDED)


def control_body(control: Control) -> dict[str, str]:
    if isinstance(control, Say):
        return {"kind": "say", "text": control.text}
    if isinstance(control, EndCall):
        return {"kind": "end", "reason": control.reason}
    if isinstance(control, TransferTo):
        return {"kind": "transfer", "target": control.target}
    raise ValueError(f"{type(control).__name__} stays in its process ({OPERATOR_CONTROLS})")


def _text(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str):
        raise UntrustedMessage(f"a control without its {key!r}")
    return value


def control_of(body: dict[str, Any]) -> Control:
    kind = body.get("kind")
    if kind == "say":
        return Say(_text(body, "text"))
    if kind == "end":
        return EndCall(_text(body, "reason"))
    if kind == "transfer":
        return TransferTo(_text(body, "target"))
    raise UntrustedMessage(f"not an operator's control: {kind!r}")


def reply_body(reply: Reply) -> dict[str, Any]:
    return {"accepted": reply.accepted, "problem": reply.problem, "answer": dict(reply.answer)}


def reply_of(body: dict[str, Any]) -> Reply:
    reply = Reply(bool(body["accepted"]), str(body["problem"]), dict(body["answer"]))
    return next((known for known in KNOWN_REPLIES if known == reply), reply)


def after_body(call_sid: str, after: AfterStream) -> dict[str, str]:
    if isinstance(after, Dial):
        return {"call": call_sid, "dial": after.number}
    return {"call": call_sid, "apologise": after.reason}


def after_of(call_sid: str, body: dict[str, Any]) -> AfterStream:
    if body.get("call") != call_sid:
        raise UntrustedMessage("an answer sealed for another call")
    if isinstance(body.get("dial"), str):
        return Dial(body["dial"])
    if isinstance(body.get("apologise"), str):
        return Apologise(body["apologise"])
    raise UntrustedMessage("an answer that is neither a transfer nor an apology")
