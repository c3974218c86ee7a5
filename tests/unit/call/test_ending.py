"""The polite ending: leave once a turn the model completed since ending began has been
heard in full, or when the grace period runs out. Table-driven."""

from __future__ import annotations

import pytest

from app.call.ending import Departure, Ending, Phase

GRACE = 15.0


def test_talking_is_never_due() -> None:
    ending = Ending(GRACE)
    ending.turn_completed()
    assert ending.phase is Phase.TALKING and not ending.ending
    assert (ending.reason, ending.transfer) == ("", None)
    assert ending.due(1e9, replying=False, audible=False) is None


@pytest.mark.parametrize(
    ("completed", "replying", "audible", "now", "leaves"),
    [
        (0, False, False, 1.0, False),  # the goodbye has not been said yet
        (1, True, False, 1.0, False),  # still being said
        (1, False, True, 1.0, False),  # said, still playing to the caller
        (1, False, False, 1.0, True),  # said and heard
        (2, False, False, 1.0, True),
        (0, True, True, GRACE - 0.001, False),
        (0, True, True, GRACE, True),  # the grace period is over, whatever was heard
    ],
)
def test_due_once_the_goodbye_was_heard_or_time_is_up(
    completed: int, replying: bool, audible: bool, now: float, leaves: bool
) -> None:
    ending = Ending(GRACE)
    assert ending.begin("caller silent", 0.0)
    for _ in range(completed):
        ending.turn_completed()
    departure = ending.due(now, replying=replying, audible=audible)
    assert (departure == Departure("caller silent", None)) is leaves
    assert (departure is None) is not leaves


def test_turns_completed_before_the_ending_do_not_count() -> None:
    ending = Ending(GRACE)
    ending.turn_completed()
    ending.turn_completed()
    ending.begin("call time limit reached", 10.0)
    assert ending.due(11.0, replying=False, audible=False) is None
    ending.turn_completed()
    assert ending.due(11.0, replying=False, audible=False) == Departure(
        "call time limit reached", None
    )


def test_the_first_reason_stands() -> None:
    ending = Ending(GRACE)
    assert ending.begin("an operator ended the call", 0.0)
    assert not ending.begin("server shutting down", 5.0)
    assert ending.reason == "an operator ended the call"
    assert ending.due(GRACE, replying=True, audible=True) is not None  # deadline from 0, not 5
    assert ending.due(GRACE - 0.001, replying=True, audible=True) is None


def test_a_transfer_leaves_with_its_number() -> None:
    ending = Ending(GRACE)
    ending.transfer_to("sales", "+15551230001", 3.0)
    assert ending.reason == "transfer to sales"
    ending.turn_completed()
    assert ending.due(4.0, replying=False, audible=False) == Departure(
        "transfer to sales", ("sales", "+15551230001")
    )


def test_a_transfer_during_an_ending_keeps_its_reason_and_adds_the_number() -> None:
    ending = Ending(GRACE)
    ending.begin("end_call: done", 0.0)
    ending.transfer_to("support", "+15551230002", 1.0)
    ending.turn_completed()
    assert ending.due(2.0, replying=False, audible=False) == Departure(
        "end_call: done", ("support", "+15551230002")
    )
