"""The core with its dead-air watch and thinking sound: Gemini 3.8's events routed,
barge-in on whichever of voiceActivity and `interrupted` comes first, the thinking
sound's marks kept out of the ledger, and the steps reaching the driver as actions."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from app.agent.events import (
    AgentAudio,
    GenerationComplete,
    HistoryTurn,
    InteractionStatus,
    Interrupted,
    ToolCall,
    ToolCallCancelled,
    Transcript,
    TurnComplete,
    VoiceActivity,
    WaitingForInput,
)
from app.agent.link_state import LinkStats, SessionSwitched
from app.call import actions as act
from app.call.actions import RenewSession, SendText, ToCaller, TurnRecorded, info
from app.call.controls import ACCEPTED, EndCall, ToolAnswered
from app.call.core import Phase
from app.call.dead_air import DeadAirPolicy, Debt, Step
from app.call.limits import LimitPolicy
from app.call.outcome import Outcome
from app.call.playback import Speech
from app.call.record import Turn
from app.call.thinking import MARK_PREFIX, Sound, ThinkingPolicy
from app.telephony import wire
from app.telephony.captures import STREAM
from tests.support import call_core as cc
from tests.support.call_core import QUIET, REPLY, SPOKEN, Call, mark

NUDGE = "Answer now."
DEAD_AIR = DeadAirPolicy(seconds=3.0, instruction=NUDGE, switch_wait_s=10.0)
SOUND = bytes(range(160)) * 4
THINKING = ThinkingPolicy(after_s=0.8, sound=SOUND)
CLEAR = wire.clear_message(STREAM)


def approx(seconds: float) -> float:
    return pytest.approx(seconds)  # type: ignore[return-value]


def sent(actions: list[act.Action]) -> list[dict[str, Any]]:
    return [json.loads(a.text) for a in actions if isinstance(a, ToCaller)]


def events(actions: list[act.Action]) -> list[str]:
    return [str(m["event"]) for m in sent(actions)]


def ask(call: Call, words: str = "When do you open?") -> float:
    """The caller speaks (frames with speech, then quiet) and Gemini transcribes it;
    returns when the caller's speech ended."""
    for _ in range(5):
        call.frame(SPOKEN)
    call.frame(QUIET)  # still speech after the converter: its filter holds the last 2 ms
    ended = call.now
    call.frame(QUIET)
    call.agent(Transcript("caller", words))
    return ended


# barge-in: voiceActivity and `interrupted`, in either order


def playing(call: Call) -> None:
    call.agents(AgentAudio(REPLY), AgentAudio(REPLY))
    call.frame(mark(call.marks()[0]))


@pytest.mark.parametrize("first", ["activity", "interrupted"])
def test_barge_in_cuts_once_whichever_signal_comes_first(first: str) -> None:
    call = Call.started()
    playing(call)
    heard, sent_ms = call.heard_ms(), call.sent_ms()
    signals = [VoiceActivity(True, 1.2), Interrupted()]
    if first == "interrupted":
        signals.reverse()
    cut = call.agent(signals[0])
    assert events(cut) == ["clear"]
    assert any(isinstance(a, TurnRecorded) and a.turn.interrupted for a in cut)
    again = call.agent(signals[1])
    assert events(again) == [] and not any(isinstance(a, TurnRecorded) for a in again)
    assert call.core.stats.interruptions == 1
    assert call.core.playback.ledger.turns[1].heard_ms == heard < sent_ms
    # the reply to what the caller says is played in full
    assert events(call.agent(AgentAudio(REPLY))) == ["media", "mark"]
    assert call.core.playback.turn == 2


def test_a_voice_activity_start_over_a_reply_still_sent_drops_its_rest() -> None:
    call = Call.started()
    playing(call)
    message = "agent turn %d interrupted: caller heard %.0f of %.0f ms sent: %r"
    actions = call.agent(VoiceActivity(True))
    assert actions[0] == ToCaller(CLEAR, True)
    assert actions[1] == info(message, 1, call.heard_ms(), call.sent_ms(), "")
    assert call.core.playback.state is Speech.MUTED
    assert call.agent(AgentAudio(REPLY)) == []  # the rest of the cut reply
    assert call.agent(Interrupted()) == []
    assert events(call.agent(AgentAudio(REPLY))) == ["media", "mark"]


def test_a_voice_activity_start_over_a_reply_sent_in_full_lets_the_next_one_play() -> None:
    call = Call.started()
    call.agents(AgentAudio(REPLY), TurnComplete())  # Gemini is done; Twilio still plays
    assert events(call.agent(VoiceActivity(True))) == ["clear"]
    assert call.core.playback.state is Speech.SILENT
    assert events(call.agent(AgentAudio(REPLY))) == ["media", "mark"]  # not dropped


def test_voice_activity_with_nothing_playing_cuts_nothing() -> None:
    call = Call.started()
    assert call.agent(VoiceActivity(True)) == []
    assert call.agent(VoiceActivity(False)) == []
    assert call.agent(Interrupted()) == [ToCaller(CLEAR, True)]  # as before: to be safe


# the thinking sound


def test_a_slow_tool_plays_the_thinking_sound_outside_the_ledger_and_transcript() -> None:
    call = Call.started(thinking=THINKING, record_audio=True)
    call.agent(ToolCall("c1", "lookup", {}))
    assert call.tick(0.7) == []
    actions = call.tick(0.2)
    assert events(actions) == ["media", "mark", "media", "mark"]
    assert [a for a in actions if isinstance(a, act.ThinkingAudioSent)] == [
        act.ThinkingAudioSent(SOUND[:160]),
        act.ThinkingAudioSent(SOUND[160:320]),
    ]
    assert not any(isinstance(a, act.AgentAudioSent) for a in actions)
    names = call.marks()
    assert names == [f"{MARK_PREFIX}1", f"{MARK_PREFIX}2"]
    more = call.frame(mark(names[0]))
    assert events(more) == ["media", "mark"]
    ledger = call.core.playback.ledger
    assert (ledger.turns, ledger.unknown_marks, ledger.stale_marks) == ({}, 0, 0)
    assert call.core.stats.agent_turns == 0 and call.core.stats.agent_audio_ms == 0
    assert not call.core.playback.audible and call.core.transcript.turns == []


def test_no_thinking_frame_follows_the_first_agent_frame() -> None:
    call = Call.started(thinking=THINKING)
    call.agent(ToolCall("c1", "lookup", {}))
    call.tick(1.0)
    reply = call.agent(AgentAudio(REPLY))
    assert reply[0] == info("thinking audio off after %.1f s: %s", 0.0, "the agent speaks")
    later = call.frame(mark(f"{MARK_PREFIX}1")) + call.frame(mark(f"{MARK_PREFIX}2"))
    later += call.tick(5.0)
    assert events(later) == []
    order = [m["mark"]["name"] for m in sent(call.actions) if m["event"] == "mark"]
    first_agent = next(i for i, name in enumerate(order) if not name.startswith(MARK_PREFIX))
    assert all(not name.startswith(MARK_PREFIX) for name in order[first_agent:])


@pytest.mark.parametrize("barge", [VoiceActivity(True), Interrupted()])
def test_no_thinking_frame_follows_a_barge_in(barge: object) -> None:
    call = Call.started(thinking=THINKING)
    call.agent(ToolCall("c1", "lookup", {}))
    call.tick(1.0)
    call.agent(barge)
    assert call.core.thinking.state is Sound.QUIET
    assert events(call.frame(mark(f"{MARK_PREFIX}1"))) == []


def test_a_caller_talking_stops_it_for_the_rest_of_the_tools_run() -> None:
    call = Call.started(thinking=THINKING)
    call.agent(ToolCall("c1", "lookup", {}))
    call.tick(1.0)
    spoken = call.frame(SPOKEN)
    assert (
        info("thinking audio off after %.1f s: %s", pytest.approx(0.02), "the caller speaks")
        in spoken
    )
    call.frame(QUIET)
    assert events(call.tick(5.0) + call.frame(mark(f"{MARK_PREFIX}1"))) == []
    assert sound(call) is Sound.QUIET
    call.agent(ToolCall("c2", "lookup", {}))  # new work: the caller may wait for it
    call.frame(mark(f"{MARK_PREFIX}2"))
    assert events(call.tick(0.9)) == ["media", "mark", "media", "mark"]
    call.core.tool_answered(ToolCall("c1", "lookup", {}).key, call.now)
    assert sound(call) is Sound.PLAYING  # c2 still runs
    actions = call.core.tool_answered(ToolCall("c2", "lookup", {}).key, call.now)
    assert [type(a) for a in actions] == [act.Log]
    assert sound(call) is Sound.QUIET


def sound(call: Call) -> Sound:
    """Read afresh (the type checker would keep an earlier narrowing)."""
    return call.core.thinking.state


def test_in_progress_plays_it_and_idle_or_the_turns_status_ends_it() -> None:
    call = Call.started(thinking=THINKING)
    call.agent(TurnComplete(status="IN_PROGRESS"))
    assert events(call.tick(0.9)) == ["media", "mark", "media", "mark"]
    call.agent(InteractionStatus(in_progress=False))
    assert call.core.thinking.state is Sound.QUIET
    call.agent(InteractionStatus(in_progress=True))
    call.tick(0.9)
    call.agent(TurnComplete(status="IDLE"))
    assert call.core.thinking.state is Sound.QUIET


def test_a_cancelled_tool_call_is_over_for_both_machines() -> None:
    call = Call.started(thinking=THINKING, dead_air=DEAD_AIR)
    call.agent(ToolCall("c1", "lookup", {}))
    call.tick(1.0)
    actions = call.agent(ToolCallCancelled(("c1",)))
    assert actions[0] == act.CancelTools(("c1",))
    assert call.core.thinking.state is Sound.QUIET


# dead air


def test_transcribed_words_with_no_reply_are_nudged_then_renewed_with_the_history() -> None:
    call = Call.started(dead_air=DEAD_AIR)
    ended = ask(call)
    assert call.tick(2.9) == []
    nudge = call.tick(0.2)
    assert [type(a) for a in nudge] == [act.Log, act.DeadAirStep, SendText]
    assert nudge[-1] == SendText(NUDGE)
    renew = call.tick(3.0)
    assert renew[2] == RenewSession((HistoryTurn("caller", "When do you open?"),), resume=True)
    assert renew[3] == SendText(NUDGE)
    switched = call.agent(SessionSwitched("renewal", 120.0, 1, "h1"))
    assert switched[0] == act.SessionSwitched("renewal")
    recovered = call.agent(AgentAudio(REPLY), after=1.0)
    assert act.DeadAirRecovered("no_reply", "resume", approx(call.now - ended)) in recovered
    assert call.core.dead_air.step is Step.WATCHING


def test_a_refused_resumption_is_reported_as_the_seeded_step() -> None:
    call = Call.started(dead_air=DEAD_AIR)
    ended = ask(call)
    call.tick(3.1)
    call.tick(3.0)
    actions = call.agent(SessionSwitched("renewal", 300.0, 1, None))
    assert steps(actions) == [act.DeadAirStep("no_reply", "seed", approx(call.now - ended))]
    apology = call.tick(3.1)
    assert apology[-1] == act.Hangup(Outcome.AGENT_SILENT, "dead air: no agent audio after 9 s")
    _, reports = call.core.finish(Outcome.AGENT_SILENT, "x", call.now, LinkStats(), 0)
    last = reports[-1]
    assert isinstance(last, act.CallEnded) and last.end.dead_air == 1


def test_an_empty_turn_after_the_words_is_nudged_when_the_caller_is_quiet() -> None:
    call = Call.started(dead_air=DEAD_AIR)
    ask(call)
    call.agent(GenerationComplete())
    call.agent(TurnComplete())
    assert texts_of(call.tick(0.4)) == [NUDGE]


def steps(actions: list[act.Action]) -> list[act.DeadAirStep]:
    return [a for a in actions if isinstance(a, act.DeadAirStep)]


def texts_of(actions: list[act.Action]) -> list[str]:
    return [a.text for a in actions if isinstance(a, SendText)]


def test_the_models_way_of_ending_a_turn_is_recorded_with_it() -> None:
    call = Call.started()
    call.agents(Transcript("agent", "Tell me more."), AgentAudio(REPLY))
    ended = TurnComplete("NEED_MORE_INPUT", True, "IDLE")
    recorded = [a.turn for a in call.agent(ended) if isinstance(a, TurnRecorded)]
    assert [(t.end_reason, t.waiting_for_input, t.status) for t in recorded] == [
        ("NEED_MORE_INPUT", True, "IDLE")
    ]


def test_a_turn_ended_without_a_word_is_recorded_when_the_model_said_why() -> None:
    call = Call.started(dead_air=DEAD_AIR)
    ask(call)
    actions = call.agent(TurnComplete("NEED_MORE_INPUT", True))
    assert info("the model ended a turn without speaking (%s)", "NEED_MORE_INPUT") in actions
    agent = [a.turn for a in actions if isinstance(a, TurnRecorded) and a.turn.speaker == "agent"]
    assert agent == [Turn(2, "agent", "", 0, False, 0.0, 0.0, "NEED_MORE_INPUT", True, "")]
    assert call.core.dead_air.debt is Debt.NONE
    assert texts_of(call.tick(30.0)) == []
    plain = call.agent(TurnComplete())  # no reason: nothing worth a row
    assert not any(isinstance(a, TurnRecorded) for a in plain)


def test_waiting_for_input_alone_is_routed_to_the_watch() -> None:
    call = Call.started(dead_air=DEAD_AIR)
    ask(call)
    assert call.agent(WaitingForInput()) == []
    assert texts_of(call.tick(30.0)) == []


def test_nothing_is_nudged_while_a_tool_runs_or_the_call_ends() -> None:
    call = Call.started(dead_air=DEAD_AIR)
    ask(call)
    call.agent(ToolCall("c1", "lookup", {}))
    assert texts_of(call.tick(30.0)) == []
    call.core.tool_answered(ToolCall("c1", "lookup", {}).key, call.now)
    call.core.control(EndCall("time"), call.now)
    assert texts_of(call.tick(10.0)) == []


def test_a_hang_up_from_the_limits_is_not_followed_by_the_machines() -> None:
    call = Call.started(
        dead_air=DEAD_AIR, thinking=THINKING, limits=LimitPolicy(first_audio_timeout_s=1.0)
    )
    call.agent(ToolCall("c1", "lookup", {}))
    actions = call.tick(2.0)
    assert [type(a) for a in actions] == [act.Hangup]


def test_the_machines_wait_for_the_call_to_be_admitted() -> None:
    call = Call(dead_air=DEAD_AIR, thinking=THINKING)
    call.frame(cc.CONNECTED)
    assert call.tick(5.0) == []
    assert cc.phase(call) is Phase.AWAITING_START


def test_the_log_lines_name_what_happened(caplog: pytest.LogCaptureFixture) -> None:
    call = Call.started(dead_air=DEAD_AIR)
    ask(call)
    (line, *_) = call.tick(3.1)
    assert isinstance(line, act.Log) and line.level == logging.WARNING
    assert (
        line.message % line.args
        == "dead air (no_reply, 3.1 s of silence): step 1, nudging the agent"
    )


def test_a_turn_ended_in_progress_without_a_word_is_recorded() -> None:
    call = Call.started()
    actions = call.agent(TurnComplete(status="IN_PROGRESS"))
    message = "the model ended a turn without speaking (%s)"
    assert info(message, "still working in the background") in actions
    (row,) = [a.turn for a in actions if isinstance(a, TurnRecorded)]
    assert (row.text, row.status, row.end_reason) == ("", "IN_PROGRESS", "")
    assert not any(isinstance(a, TurnRecorded) for a in call.agent(TurnComplete(status="IDLE")))


def test_a_phantom_interruption_of_a_playing_reply_is_nudged_as_a_mute_session() -> None:
    call = Call.started(dead_air=DEAD_AIR)
    call.agents(AgentAudio(REPLY), TurnComplete())  # playing; nobody speaks
    call.agent(Interrupted())
    nudge = call.tick(3.1)
    assert steps(nudge) == [act.DeadAirStep("mute_after_interrupt", "nudge", approx(3.1))]


def test_an_interruption_with_nothing_playing_is_not_a_mute_session() -> None:
    call = Call.started(dead_air=DEAD_AIR)
    call.agent(Interrupted())
    assert texts_of(call.tick(30.0)) == []


def test_the_bound_counts_from_the_tools_answer() -> None:
    call = Call.started(dead_air=DEAD_AIR)
    ask(call)
    call.agent(ToolCall("c1", "lookup", {}))
    call.tick(20.0)
    answered_at = call.now
    call.core.tool_answered(ToolCall("c1", "lookup", {}).key, answered_at)
    assert call.tick(2.9) == []
    assert steps(call.tick(0.2)) == [
        act.DeadAirStep("no_reply", "nudge", approx(call.now - answered_at))
    ]


def test_two_tools_cancelled_at_once_both_end_and_the_sound_stops() -> None:
    call = Call.started(thinking=THINKING)
    call.agents(ToolCall("c1", "lookup", {}), ToolCall("c2", "lookup", {}))
    call.tick(1.0)
    actions = call.agent(ToolCallCancelled(("c1", "c2")))
    assert actions == [
        act.CancelTools(("c1", "c2")),
        info("thinking audio off after %.1f s: %s", 0.0, "the work is done"),
    ]


@pytest.mark.parametrize(
    ("ended", "logged"),
    [
        (TurnComplete("NEED_MORE_INPUT"), "NEED_MORE_INPUT"),
        (TurnComplete(waiting_for_input=True), "waiting for input"),
        (TurnComplete("MALFORMED_FUNCTION_CALL", status="IN_PROGRESS"), "MALFORMED_FUNCTION_CALL"),
    ],
)
def test_each_field_of_the_turns_end_reaches_the_watch_and_the_record(
    ended: TurnComplete, logged: str
) -> None:
    call = Call.started(dead_air=DEAD_AIR)
    ask(call)
    actions = call.agent(ended)
    assert info("the model ended a turn without speaking (%s)", logged) in actions
    waits = ended.reason == "NEED_MORE_INPUT" or ended.waiting_for_input
    assert (call.core.dead_air.debt is Debt.NONE) is bool(waits)


def test_a_reason_alone_that_is_not_waiting_still_owes_the_answer_at_once() -> None:
    call = Call.started(dead_air=DEAD_AIR)
    ask(call)
    call.agent(TurnComplete("MALFORMED_FUNCTION_CALL"))  # the model failed: an empty turn
    assert texts_of(call.tick(0.4)) == [NUDGE]


def test_gemini_saying_the_caller_talks_holds_the_bound_until_it_says_they_stopped() -> None:
    call = Call.started(dead_air=DEAD_AIR)
    call.frame(QUIET)  # the line is up (and the caller quiet, as far as we hear)
    call.agent(VoiceActivity(True))
    call.agent(Transcript("caller", "So I was wondering"))
    assert texts_of(call.tick(10.0)) == []
    call.agent(VoiceActivity(False))
    stopped = call.now
    assert call.tick(2.9) == []
    assert steps(call.tick(0.2)) == [
        act.DeadAirStep("no_reply", "nudge", approx(call.now - stopped))
    ]


def test_in_progress_on_the_turn_pauses_the_watch_until_idle() -> None:
    call = Call.started(dead_air=DEAD_AIR)
    ask(call)
    call.agent(TurnComplete(status="IN_PROGRESS"))
    assert texts_of(call.tick(20.0)) == []
    call.agent(InteractionStatus(in_progress=False))  # done, and it said nothing
    idle = call.now
    assert steps(call.tick(0.1)) == [
        act.DeadAirStep("empty_turn", "nudge", approx(call.now - idle))
    ]


def test_idle_on_a_later_turn_ends_the_background_work_for_the_watch() -> None:
    call = Call.started(dead_air=DEAD_AIR)
    ask(call)
    call.agent(TurnComplete(status="IN_PROGRESS"))
    assert texts_of(call.tick(20.0)) == []
    call.agent(AgentAudio(REPLY))
    call.agent(TurnComplete(status="IDLE"))
    call.play_all()
    assert texts_of(call.tick(10.0)) == []  # answered: nothing owed


def test_gemini_working_in_the_background_pauses_the_watch_and_plays_the_sound() -> None:
    call = Call.started(dead_air=DEAD_AIR, thinking=THINKING)
    ask(call)
    call.agent(InteractionStatus(in_progress=True))
    frames = call.tick(0.9)
    assert events(frames) == ["media", "mark", "media", "mark"]
    assert {m["streamSid"] for m in sent(frames)} == {STREAM}
    assert texts_of(call.tick(20.0)) == []


def test_only_the_callers_words_make_a_debt() -> None:
    call = Call.started(dead_air=DEAD_AIR)
    call.frame(QUIET)
    call.agent(Transcript("caller", "   "))  # nothing but spacing
    call.agent(Transcript("agent", "Hello?"))
    assert call.core.dead_air.debt is Debt.NONE
    assert texts_of(call.tick(10.0)) == []


def test_the_bound_waits_for_the_reply_to_finish_playing() -> None:
    call = Call.started(dead_air=DEAD_AIR)
    call.agents(AgentAudio(REPLY), TurnComplete())
    for _ in range(5):
        call.frame(SPOKEN)  # the caller talks over the end of the reply
    call.frame(QUIET)
    call.agent(Transcript("caller", "And on Sundays?"))
    assert texts_of(call.tick(10.0)) == []  # Twilio still plays: no mark came back
    call.play_all()
    heard = call.now  # the last mark came back: the caller heard the reply until now
    assert call.tick(2.9) == []
    assert steps(call.tick(0.2)) == [act.DeadAirStep("no_reply", "nudge", approx(call.now - heard))]


def test_a_tools_answer_comes_through_the_calls_one_door() -> None:
    call = Call.started(thinking=THINKING, dead_air=DEAD_AIR)
    ask(call)
    call.agent(ToolCall("c1", "lookup", {}))
    call.tick(1.0)
    reply, actions = call.core.control(ToolAnswered("c1"), call.now)
    assert reply == ACCEPTED
    assert actions == [info("thinking audio off after %.1f s: %s", 0.0, "the work is done")]
    assert texts_of(call.tick(2.9)) == [] and texts_of(call.tick(0.2)) == [NUDGE]
