"""Ending a call on purpose: the goodbye asked for once, the ``end_call`` and
``transfer_call`` tools' answers, an operator's transfer and instruction, and leaving
(transfer, then hang up). Exact actions and answers, table-driven."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.call.actions import Hangup, SendText, Transfer, info
from app.call.ending import Departure, Ending
from app.call.farewell import Farewell
from app.call.outcome import Outcome

GOODBYE = "Say a short goodbye."
TARGETS = {"sales": "+15551230001", "support": "+15551230002"}
GRACE = 10.0
TOOL_END_ANSWER = {
    "result": "The call ends once your goodbye has been heard."
    " Say a short goodbye now if you have not yet."
}


def farewell(targets: dict[str, str] | None = None) -> Farewell:
    return Farewell(Ending(GRACE), GOODBYE, TARGETS if targets is None else targets)


def connecting(name: str) -> str:
    return f"Tell the caller in one short sentence that you are connecting them to {name} now."


# leaving


@pytest.mark.parametrize(
    ("departure", "actions"),
    [
        (Departure("caller silent", None), [Hangup(Outcome.COMPLETED, "caller silent")]),
        (
            Departure("transfer to sales", ("sales", "+15551230001")),
            [
                Transfer("sales", "+15551230001"),
                Hangup(Outcome.COMPLETED, "transfer to sales"),
            ],
        ),
    ],
)
def test_leaving_transfers_if_asked_then_hangs_up(departure: Departure, actions: list[Any]) -> None:
    assert Farewell.leave(departure) == actions


# the goodbye


def test_the_goodbye_is_asked_for_once_and_the_first_reason_stands() -> None:
    ending = farewell()
    assert ending.say_goodbye("call time limit reached", 5.0) == [
        info("ending the call (%s): asking the agent to say goodbye", "call time limit reached"),
        SendText(GOODBYE),
    ]
    assert ending.ending.ending and ending.ending.reason == "call time limit reached"
    assert ending.say_goodbye("server shutting down", 6.0) == []
    assert ending.ending.reason == "call time limit reached"


def test_the_goodbye_starts_the_grace_period_now() -> None:
    ending = farewell()
    ending.say_goodbye("caller silent", 5.0)
    assert ending.ending.due(5.0 + GRACE - 0.001, replying=True, audible=True) is None
    assert ending.ending.due(5.0 + GRACE, replying=True, audible=True) == Departure(
        "caller silent", None
    )


# the end_call tool


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        ({}, "end_call: the agent ended the call"),
        ({"reason": ""}, "end_call: the agent ended the call"),
        ({"reason": None}, "end_call: the agent ended the call"),
        ({"reason": "caller said bye"}, "end_call: caller said bye"),
        ({"reason": 42}, "end_call: 42"),
    ],
)
def test_end_call_begins_the_ending_with_its_reason(args: dict[str, Any], reason: str) -> None:
    ending = farewell()
    assert ending.end_call_tool(args, 3.0) == TOOL_END_ANSWER
    assert ending.ending.ending and ending.ending.reason == reason
    assert ending.ending.due(3.0 + GRACE - 0.001, replying=True, audible=True) is None
    assert ending.ending.due(3.0 + GRACE, replying=True, audible=True) is not None


def test_end_call_during_an_ending_keeps_the_first_reason() -> None:
    ending = farewell()
    ending.say_goodbye("an operator ended the call", 0.0)
    assert ending.end_call_tool({"reason": "done"}, 1.0) == TOOL_END_ANSWER
    assert ending.ending.reason == "an operator ended the call"


# the transfer tool


@pytest.mark.parametrize("name", ["sales", "support"])
def test_a_known_target_is_transferred_to_after_the_notice(name: str) -> None:
    ending = farewell()
    answer, actions = ending.transfer_tool({"target": name}, 2.0)
    assert answer == {"result": connecting(name)}
    assert actions == [info("transfer to %s requested; connecting after the notice is heard", name)]
    assert ending.ending.reason == f"transfer to {name}"
    ending.ending.turn_completed()
    assert ending.ending.due(2.0, replying=False, audible=False) == Departure(
        f"transfer to {name}", (name, TARGETS[name])
    )


@pytest.mark.parametrize(
    ("targets", "args", "choices"),
    [
        (TARGETS, {"target": "kitchen"}, "choose one of: sales, support"),
        (TARGETS, {}, "choose one of: sales, support"),
        (TARGETS, {"target": "SALES"}, "choose one of: sales, support"),
        ({"sales": "+15551230001"}, {"target": None}, "choose one of: sales"),
        ({}, {"target": "sales"}, "choose one of: "),
        ({"None": "+15551230009"}, {}, "choose one of: None"),  # no target is not "None"
    ],
)
def test_an_unknown_target_is_an_error_that_names_the_choices(
    targets: dict[str, str], args: dict[str, Any], choices: str
) -> None:
    ending = farewell(targets)
    answer, actions = ending.transfer_tool(args, 2.0)
    assert answer == {"error": {"type": "unknown_target", "message": choices}}
    assert actions == []
    assert not ending.ending.ending and ending.ending.transfer is None


# the operator


def test_an_operator_transfer_tells_the_agent_what_to_say() -> None:
    ending = farewell()
    problem, actions = ending.operator_transfer("support", 4.0)
    assert problem is None
    assert actions == [
        info("transfer to %s requested; connecting after the notice is heard", "support"),
        SendText(connecting("support")),
    ]
    assert ending.ending.transfer == ("support", "+15551230002")


def test_an_operator_transfer_to_an_unknown_target_is_a_problem_and_does_nothing() -> None:
    ending = farewell()
    assert ending.operator_transfer("kitchen", 4.0) == (
        "choose one of: sales, support",
        [],
    )
    assert not ending.ending.ending


@given(st.text(max_size=40))
def test_an_operator_instruction_is_logged_and_sent_as_it_is(instruction: str) -> None:
    assert Farewell.operator_say(instruction) == [
        info("operator instruction: %r", instruction),
        SendText(instruction),
    ]
