"""The call's one door: each control an operator, shutdown or the agent's built-in tools
send, and the exact reply and actions the core answers with (table-driven)."""

from __future__ import annotations

from typing import Any

import pytest

from app.call.actions import SendText, info
from app.call.controls import (
    ACCEPTED,
    ENDED,
    NOT_STARTED,
    OPERATOR_CONTROLS,
    Control,
    EndCall,
    EndCallTool,
    Reply,
    Say,
    TransferTo,
    TransferTool,
)
from tests.support.call_core import Call

TARGETS = {"sales": "+15551230001", "support": "+15551230002"}
GOODBYE = "Say goodbye."
END_ANSWER = {
    "result": "The call ends once your goodbye has been heard."
    " Say a short goodbye now if you have not yet."
}


def connecting(name: str) -> str:
    return f"Tell the caller in one short sentence that you are connecting them to {name} now."


def started() -> Call:
    return Call.started(transfer_targets=TARGETS, goodbye_instruction=GOODBYE)


@pytest.mark.parametrize("control", [Say("hi"), EndCall("op"), TransferTo("sales")])
def test_an_operator_control_before_the_call_started_is_refused_and_does_nothing(
    control: Control,
) -> None:
    call = Call(transfer_targets=TARGETS)
    assert call.control(control) == (NOT_STARTED, [])
    assert Reply(False, "the call has not started yet") == NOT_STARTED
    assert not call.core.ending.ending


CASES: list[tuple[Control, Reply, list[Any]]] = [
    (
        Say("Tell them it shipped."),
        ACCEPTED,
        [
            info("operator instruction: %r", "Tell them it shipped."),
            SendText("Tell them it shipped."),
        ],
    ),
    (
        EndCall("an operator ended the call"),
        ACCEPTED,
        [
            info(
                "ending the call (%s): asking the agent to say goodbye",
                "an operator ended the call",
            ),
            SendText(GOODBYE),
        ],
    ),
    (
        TransferTo("support"),
        ACCEPTED,
        [
            info("transfer to %s requested; connecting after the notice is heard", "support"),
            SendText(connecting("support")),
        ],
    ),
    (TransferTo("kitchen"), Reply(False, "choose one of: sales, support"), []),
    (EndCallTool({"reason": "done"}), Reply(True, answer=END_ANSWER), []),
    (
        TransferTool({"target": "sales"}),
        Reply(True, answer={"result": connecting("sales")}),
        [info("transfer to %s requested; connecting after the notice is heard", "sales")],
    ),
    (
        TransferTool({"target": "kitchen"}),
        Reply(
            True,
            answer={
                "error": {"type": "unknown_target", "message": "choose one of: sales, support"}
            },
        ),
        [],
    ),
]


@pytest.mark.parametrize(("control", "reply", "actions"), CASES)
def test_each_control_in_a_call(control: Control, reply: Reply, actions: list[Any]) -> None:
    call = started()
    assert call.control(control) == (reply, actions)


@pytest.mark.parametrize(
    ("control", "ending", "reason"),
    [
        (Say("x"), False, ""),
        (EndCall("an operator ended the call"), True, "an operator ended the call"),
        (TransferTo("sales"), True, "transfer to sales"),
        (TransferTo("kitchen"), False, ""),
        (EndCallTool({}), True, "end_call: the agent ended the call"),
        (EndCallTool({"reason": "done"}), True, "end_call: done"),
        (TransferTool({"target": "support"}), True, "transfer to support"),
    ],
)
def test_what_each_control_begins(control: Control, ending: bool, reason: str) -> None:
    call = started()
    call.control(control)
    assert (call.core.ending.ending, call.core.ending.reason) == (ending, reason)


def test_the_first_ending_stands_and_a_second_goodbye_is_accepted_but_silent() -> None:
    call = started()
    call.control(EndCall("server shutting down"))
    assert call.control(EndCall("an operator ended the call")) == (ACCEPTED, [])
    assert call.core.ending.reason == "server shutting down"


def test_the_operator_controls_are_the_ones_another_process_may_send() -> None:
    assert (Say, EndCall, TransferTo) == OPERATOR_CONTROLS
    assert Reply(False, "the call has ended") == ENDED and Reply(True) == ACCEPTED
