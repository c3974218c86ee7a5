"""Controls, replies and after-stream answers as JSON bodies, and back: exact bodies,
the operator API's constants restored, and anything else refused."""

from __future__ import annotations

from typing import Any

import pytest

from app.call.controls import (
    ACCEPTED,
    ENDED,
    NOT_STARTED,
    EndCall,
    EndCallTool,
    Reply,
    Say,
    TransferTo,
)
from app.errors import UntrustedMessage
from app.registry.base import Apologise, Dial
from app.registry.messages import (
    after_body,
    after_of,
    control_body,
    control_of,
    reply_body,
    reply_of,
)

A, B = "CA" + "a" * 32, "CA" + "b" * 32


@pytest.mark.parametrize(
    ("control", "body"),
    [
        (Say("hi"), {"kind": "say", "text": "hi"}),
        (EndCall("op"), {"kind": "end", "reason": "op"}),
        (TransferTo("desk"), {"kind": "transfer", "target": "desk"}),
    ],
)
def test_operator_controls_cross_and_come_back(control: object, body: dict[str, str]) -> None:
    assert control_body(control) == body  # type: ignore[arg-type]
    assert control_of(body) == control


def test_a_tool_s_control_stays_in_its_process() -> None:
    with pytest.raises(ValueError, match="EndCallTool stays in its process"):
        control_body(EndCallTool({}))


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ({"kind": "tool", "args": {}}, "not an operator's control: 'tool'"),
        ({}, "not an operator's control: None"),
        ({"kind": "say"}, "a control without its 'text'"),
        ({"kind": "say", "text": 3}, "a control without its 'text'"),
        ({"kind": "end", "text": "x"}, "a control without its 'reason'"),
        ({"kind": "transfer", "number": "+1"}, "a control without its 'target'"),
    ],
)
def test_other_bodies_are_refused(body: dict[str, object], why: str) -> None:
    with pytest.raises(UntrustedMessage) as refused:
        control_of(body)
    assert refused.value.reason == why


def test_replies_come_back_as_the_constants_the_api_compares_with() -> None:
    for known in (ACCEPTED, NOT_STARTED, ENDED):
        assert reply_of(reply_body(known)) is known
    answered = Reply(True, "", {"result": "ok"})
    assert reply_body(answered) == {"accepted": True, "problem": "", "answer": {"result": "ok"}}
    assert reply_of(reply_body(answered)) == answered
    odd = Reply(False, "busy")
    assert reply_of(reply_body(odd)) == odd and reply_of(reply_body(odd)) is not odd


def test_after_stream_answers_are_bound_to_their_call() -> None:
    assert after_body(A, Dial("+15551230001")) == {"call": A, "dial": "+15551230001"}
    assert after_body(A, Apologise("x")) == {"call": A, "apologise": "x"}
    assert after_of(A, after_body(A, Dial("+1"))) == Dial("+1")
    assert after_of(A, after_body(A, Apologise("x"))) == Apologise("x")
    cases: list[tuple[dict[str, Any], str]] = [
        (after_body(B, Dial("+1")), "an answer sealed for another call"),
        ({"call": A}, "an answer that is neither a transfer nor an apology"),
        ({"call": A, "dial": 5}, "an answer that is neither a transfer nor an apology"),
    ]
    for body, why in cases:
        with pytest.raises(UntrustedMessage) as refused:
            after_of(A, body)
        assert refused.value.reason == why
