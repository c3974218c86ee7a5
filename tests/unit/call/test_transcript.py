"""The transcript: deltas joined verbatim, turns numbered, agent turns settled to what
was heard as the marks come back."""

from __future__ import annotations

import logging

from app.agent.events import HistoryTurn, TurnComplete
from app.call.actions import Action, Log, TurnHeard, TurnRecorded
from app.call.ledger import PlaybackLedger
from app.call.record import Turn
from app.call.transcript import Transcript


def recorded(actions: list[Action]) -> list[Turn]:
    return [a.turn for a in actions if isinstance(a, TurnRecorded)]


def test_caller_deltas_are_joined_verbatim_into_one_turn() -> None:
    transcript = Transcript()
    for delta in (" Здрав", "ствуйте, ", "Александр.\n"):  # words split across deltas
        transcript.heard("caller", delta)
    actions = transcript.caller_turn()
    assert [turn.text for turn in recorded(actions)] == ["Здравствуйте, Александр."]
    assert isinstance(actions[0], Log) and actions[0].args == ("Здравствуйте, Александр.",)
    assert transcript.caller_turn() == []  # said once
    transcript.heard("caller", "   ")
    assert transcript.caller_turn() == []  # nothing but spacing


def test_agent_turns_keep_what_was_sent_and_heard() -> None:
    ledger = PlaybackLedger()
    transcript = Transcript()
    first = ledger.audio_sent(1, 500)
    second = ledger.audio_sent(1, 500)
    transcript.heard("agent", "We open ")
    transcript.heard("agent", "at nine.")
    (turn,) = recorded(transcript.agent_turn(ledger.turn(1), interrupted=False))
    assert (turn.seq, turn.speaker, turn.text, turn.agent_turn) == (
        1,
        "agent",
        "We open at nine.",
        1,
    )
    assert (turn.sent_ms, turn.heard_ms, turn.interrupted) == (1000, 0, False)
    assert transcript.settling and transcript.agent_text == ""
    ledger.mark_received(first)
    assert transcript.settle(ledger, call_over=False) == []  # half heard: still playing
    ledger.mark_received(second)
    (heard,) = transcript.settle(ledger, call_over=False)
    assert isinstance(heard, TurnHeard) and heard.turn.heard_ms == 1000 and heard.turn.seq == 1
    assert not transcript.settling


def test_a_caller_who_hangs_up_mid_reply_heard_only_part() -> None:
    ledger = PlaybackLedger()
    transcript = Transcript()
    heard = ledger.audio_sent(1, 400)
    ledger.audio_sent(1, 600)
    transcript.heard("agent", "A long answer.")
    transcript.agent_turn(ledger.turn(1), interrupted=False)
    ledger.mark_received(heard)
    (settled,) = transcript.settle(ledger, call_over=True)
    assert isinstance(settled, TurnHeard) and settled.turn.heard_ms == 400


def test_an_interrupted_turn_is_final_at_once() -> None:
    ledger = PlaybackLedger()
    transcript = Transcript()
    ledger.audio_sent(1, 800)
    ledger.cleared(1)
    transcript.heard("agent", "Sure, the")
    (turn,) = recorded(transcript.agent_turn(ledger.turn(1), interrupted=True))
    assert turn.interrupted and turn.heard_ms == 0 and turn.sent_ms == 800
    assert not transcript.settling


def test_turns_are_numbered_in_order_and_reported_as_snapshots() -> None:
    ledger = PlaybackLedger()
    transcript = Transcript()
    transcript.heard("caller", "Hello?")
    reports = transcript.caller_turn()
    transcript.heard("agent", "Hi!")
    reports += transcript.agent_turn(ledger.turn(0), interrupted=False)
    transcript.heard("caller", "Bye.")
    reports += transcript.caller_turn()
    assert [t.seq for t in transcript.turns] == [1, 2, 3]
    assert [(t.seq, t.speaker) for t in recorded(reports)] == [
        (1, "caller"),
        (2, "agent"),
        (3, "caller"),
    ]
    assert recorded(reports)[0] is not transcript.turns[0]  # a copy: sinks may run later


def test_the_caller_turn_is_logged_with_its_text_quoted() -> None:
    transcript = Transcript()
    transcript.heard("caller", "Hi 'there'")
    log, _ = transcript.caller_turn()
    assert log == Log(logging.INFO, "caller said: %r", ("Hi 'there'",))


def test_a_turn_heard_in_full_before_it_ended_is_final_at_once() -> None:
    ledger = PlaybackLedger()
    transcript = Transcript()
    ledger.mark_received(ledger.audio_sent(1, 300))
    transcript.heard("agent", "Yes.")
    (turn,) = recorded(transcript.agent_turn(ledger.turn(1), interrupted=False))
    assert (turn.sent_ms, turn.heard_ms) == (300, 300)
    assert not transcript.settling
    assert transcript.settle(ledger, call_over=True) == []


def test_a_turn_still_playing_does_not_hold_back_one_that_finished() -> None:
    ledger = PlaybackLedger()
    transcript = Transcript()
    ledger.audio_sent(1, 500)
    transcript.agent_turn(ledger.turn(1), interrupted=False)
    second = ledger.audio_sent(2, 200)
    transcript.agent_turn(ledger.turn(2), interrupted=False)
    ledger.mark_received(second)
    (heard,) = transcript.settle(ledger, call_over=False)
    assert isinstance(heard, TurnHeard)
    assert (heard.turn.agent_turn, heard.turn.heard_ms) == (2, 200)
    assert transcript.settling  # turn 1 still plays
    (last,) = transcript.settle(ledger, call_over=True)
    assert isinstance(last, TurnHeard) and (last.turn.agent_turn, last.turn.heard_ms) == (1, 0)
    assert not transcript.settling


def test_the_history_is_the_conversation_as_heard_with_the_words_still_pending() -> None:
    ledger = PlaybackLedger()
    transcript = Transcript()
    assert transcript.history() == ()
    transcript.heard("caller", "When do you open?")
    transcript.caller_turn()
    ledger.audio_sent(1, 500)
    transcript.heard("agent", "We open at nine and close at five.")
    ledger.cleared(1)  # interrupted before any of it was heard
    transcript.agent_turn(ledger.turn(1), interrupted=True)
    heard = ledger.audio_sent(2, 1000)
    ledger.mark_received(heard)
    transcript.heard("agent", "Nine.")
    transcript.agent_turn(ledger.turn(2), interrupted=False)
    transcript.heard("agent", "And on Sunday")  # a reply under way
    transcript.heard("caller", " What about Sun")
    transcript.heard("caller", "day? ")
    assert transcript.history() == (
        HistoryTurn("caller", "When do you open?"),  # the cut reply left nothing heard
        HistoryTurn("agent", "Nine."),
        HistoryTurn("agent", "And on Sunday"),
        HistoryTurn("caller", "What about Sunday?"),
    )


def test_an_interrupted_turn_is_told_as_far_as_it_was_heard() -> None:
    ledger = PlaybackLedger()
    transcript = Transcript()
    first = ledger.audio_sent(1, 500)
    ledger.audio_sent(1, 500)
    ledger.mark_received(first)  # half of it was heard
    transcript.heard("agent", "We open at nine and close at five.")
    ledger.cleared(1)
    transcript.agent_turn(ledger.turn(1), interrupted=True)
    assert transcript.history() == (HistoryTurn("agent", "We open at nine…"),)


def test_turns_keep_how_the_model_ended_them() -> None:
    transcript = Transcript()
    ledger = PlaybackLedger()
    transcript.heard("agent", "Tell me more.")
    (turn,) = recorded(
        transcript.agent_turn(
            ledger.turn(1), interrupted=False, ended=TurnComplete("NEED_MORE_INPUT", True, "IDLE")
        )
    )
    assert (turn.end_reason, turn.waiting_for_input, turn.status) == (
        "NEED_MORE_INPUT",
        True,
        "IDLE",
    )
    transcript.heard("agent", "Bye.")
    (plain,) = recorded(transcript.agent_turn(ledger.turn(2), interrupted=False))
    assert (plain.end_reason, plain.waiting_for_input, plain.status) == ("", False, "")
