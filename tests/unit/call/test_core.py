"""The call's core as a whole: frames, agent events and the clock in, actions out. No
sockets, no tasks: each step is one call and its answer. Exact actions (logs too: they
are what an operator reads), table-driven where the cases share a shape."""

from __future__ import annotations

import json
import logging

import pytest

from app.agent import events as ev
from app.agent.events import AgentAudio, Interrupted, Transcript, TurnComplete
from app.agent.link_state import LinkStats, SessionSwitched
from app.call import actions as act
from app.call.actions import Hangup, Log, SendAudio, SendText, ToCaller, TurnRecorded, info
from app.call.controls import TransferTool
from app.call.core import Phase
from app.call.guard import GuardPolicy
from app.call.limits import LimitPolicy
from app.call.outcome import Outcome
from app.call.playback import QUIET_DBFS
from app.call.record import CallEnd, CallStats, CallSummary, Turn
from app.telephony import wire
from app.telephony.captures import CALL, STREAM
from tests.support import call_core as cc
from tests.support.call_core import NOISE, QUIET, REPLY, Call, kinds, mark, texts

# the start


def test_a_start_is_not_a_call_until_admitted_once() -> None:
    call = Call(greeting="Greet them.")
    assert (call.core.start, call.core.call_sid, call.core.stream_sid) == (None, "", "")
    assert call.frame(cc.CONNECTED) == []
    (admit,) = call.frame(cc.START)
    assert isinstance(admit, act.Admit) and call.core.phase is Phase.ADMITTING
    assert (call.core.call_sid, call.core.stream_sid) == (CALL, STREAM)
    assert call.core.admission(None, call.now) == [
        info("stream started (caller %r)", cc.CALLER),  # repr: a caller name is untrusted
        cc.began(),
        SendText("Greet them."),
    ]
    assert cc.phase(call) is Phase.IN_CALL
    with pytest.raises(AssertionError):
        call.core.admission(None, call.now)


OUTBOUND = {"direction": "outbound", "from": cc.CALLER, "to": cc.CALLED}


@pytest.mark.parametrize(
    ("params", "logged", "start", "greeting"),
    [
        (OUTBOUND, cc.CALLER, cc.began("outbound"), "You called them."),
        ({}, "unknown", cc.began("inbound", None, None), "Inbound."),
        ({"from": "Ann"}, "Ann", cc.began("inbound", "Ann", None), "Inbound."),
    ],
)
def test_the_start_names_the_call_and_picks_the_greeting(
    params: dict[str, str], logged: str, start: act.CallBegan, greeting: str
) -> None:
    call = Call(greeting="Inbound.", outbound_greeting="You called them.")
    actions = call.admitted(start=cc.start_with(params))
    assert actions == [info("stream started (caller %r)", logged), start, SendText(greeting)]


def test_no_greeting_sends_no_text() -> None:
    assert Call().admitted() == [info("stream started (caller %r)", cc.CALLER), cc.began()]


def test_a_refused_start_ends_before_anything_is_sent() -> None:
    call = Call(greeting="Greet them.")
    assert call.admitted("stream token already used") == [
        info("stream started (caller %r)", cc.CALLER),
        Hangup(Outcome.REFUSED, "stream token already used"),
    ]
    assert call.core.phase is Phase.ADMITTING
    assert call.tick(60.0) == [] and call.goodbye("shutdown") == []


@pytest.mark.parametrize(
    ("steps", "outcome", "reason"),
    [
        ([cc.STOP], Outcome.NO_START, "stream stopped before it started"),
        (["x"] * 3, Outcome.PROTOCOL_VIOLATION, "3 malformed messages"),
    ],
)
def test_streams_that_never_start(steps: list[str], outcome: Outcome, reason: str) -> None:
    call = Call(guard=GuardPolicy(max_malformed=2))
    ended = [a for step in steps for a in call.frame(step)]
    assert cc.hangup(ended) == Hangup(outcome, reason)


def test_no_start_in_time_and_no_audio_after_it() -> None:
    call = Call(100.0, start_timeout_s=10)
    assert call.tick(9.9) == []
    assert call.tick(0.1) == [Hangup(Outcome.NO_START, "no start message in time")]
    call = Call.started(100.0, limits=LimitPolicy(first_audio_timeout_s=2.5))
    assert call.tick(2.4) == []
    assert call.tick(0.1) == [
        Hangup(Outcome.PROTOCOL_VIOLATION, "no audio within 2.5 s of the start")
    ]


def test_a_stop_or_a_closed_socket_ends_the_call_as_what_it_was() -> None:
    call = Call()
    assert call.core.socket_closed(1006) == Hangup(
        Outcome.NO_START, "media socket closed (code 1006)"
    )
    call.admitted()
    assert call.frame(cc.STOP) == [Hangup(Outcome.COMPLETED, "caller hung up")]
    assert call.core.socket_closed(None) == Hangup(
        Outcome.COMPLETED, "media socket closed (code None)"
    )


# the caller


def test_caller_audio_goes_to_the_agent_at_16_khz_and_is_counted() -> None:
    call = Call.started(record_audio=True)
    actions = call.frame(cc.SPOKEN)
    assert kinds(actions) == [act.CallerAudio, SendAudio]
    assert actions[0] == act.CallerAudio(cc.SPEECH_ULAW)
    audio = actions[1]
    assert isinstance(audio, SendAudio) and len(audio.pcm16k) == 640  # 160 µ-law samples x2
    call.frame(QUIET)
    assert (call.core.stats.frames_in, call.core.stats.caller_audio_ms) == (2, 40.0)
    assert kinds(Call().core.receive(cc.SPOKEN, 0.0)) == []  # before the start: nothing
    assert kinds(Call.started().frame(cc.SPOKEN)) == [SendAudio]  # not recording
    assert act.AgentAudioSent in kinds(call.agent(AgentAudio(REPLY)))


def test_a_dropped_frame_with_a_note_is_logged_as_a_warning() -> None:
    call = Call.started()
    assert call.frame("not json") == [
        Log(logging.WARNING, "ignored malformed Twilio frame #1: 'frame is not valid JSON'")
    ]
    assert call.frame(cc.CONNECTED) == []  # counted, not logged


def test_keys_are_logged_and_forwarded_unless_turned_off() -> None:
    press = json.dumps({"event": "dtmf", "streamSid": STREAM, "dtmf": {"digit": "5"}})
    call = Call.started()
    pressed = info("caller pressed %s", "5")
    assert call.frame(press) == [pressed, SendText("The caller pressed 5 on their phone's keypad.")]
    assert Call.started(forward_dtmf=False).frame(press) == [pressed]


def test_redacted_keys_reach_the_model_and_nothing_else() -> None:
    press = json.dumps({"event": "dtmf", "streamSid": STREAM, "dtmf": {"digit": "7"}})
    hidden = info("caller pressed a key (the digit is not kept)")
    to_model = SendText("The caller pressed 7 on their phone's keypad.")
    assert Call.started(redact_dtmf=True).frame(press) == [hidden, to_model]
    assert Call.started(redact_dtmf=True, forward_dtmf=False).frame(press) == [hidden]


def test_silence_counts_from_the_callers_last_words_not_while_the_agent_is_heard() -> None:
    call = Call.started(limits=LimitPolicy(idle_timeout_s=30), idle_instruction="Still there?")
    call.frame(cc.SPOKEN, after=10.0)
    assert call.tick(29.9) == []
    assert call.tick(0.1) == [
        info("caller silent for %.0f s: asking if they are still there", 30),
        SendText("Still there?"),
    ]
    call.frame(cc.SPOKEN)
    call.agent(AgentAudio(REPLY))
    assert call.tick(45.0) == []  # the agent is talking
    call.agent(TurnComplete())
    call.play_all()
    assert call.tick(29.0) == []


# the fast barge-in

BARGED = "fast barge-in: caller speech detected; playback of turn %d stopped after %.0f ms"


def test_a_fast_barge_in_stops_playback_and_says_how_much_was_heard() -> None:
    call = Call(fast_barge_in=True)
    call.audible_reply()
    call.frame(mark(call.marks()[0]))
    assert (heard := call.heard_ms()) > 0
    assert [kinds(call.frame(NOISE)) for _ in range(2)] == [[SendAudio]] * 2  # onset: 3 frames
    onset = call.frame(NOISE)
    assert onset[:2] == [ToCaller(wire.clear_message(STREAM)), info(BARGED, 1, heard)]
    assert kinds(onset) == [ToCaller, Log, SendAudio]
    assert call.core.stats.fast_barge_ins == 1 and not call.core.playback.audible
    assert kinds(call.frame(NOISE)) == [SendAudio]  # muted: once is enough


@pytest.mark.parametrize(
    ("fast_barge_in", "talking", "level"),
    [
        (False, True, 8000.0),  # turned off
        (True, False, 8000.0),  # nothing to stop
        (True, True, 1000.0),  # -30 dBFS: speech on a quiet line, but no louder than echo
    ],
)
def test_no_barge_in(fast_barge_in: bool, talking: bool, level: float) -> None:
    call = Call.started(fast_barge_in=fast_barge_in)
    for _ in range(12):
        call.frame(QUIET)
    if talking:
        call.agent(AgentAudio(REPLY))
    assert [kinds(call.frame(cc.noise(level))) for _ in range(5)] == [[SendAudio]] * 5
    assert call.core.stats.fast_barge_ins == 0
    if not fast_barge_in:
        assert call.core.playback.peak_dbfs == QUIET_DBFS  # peaks only for a barge-in


def test_a_barge_in_before_any_audio_went_out_says_nothing_was_heard() -> None:
    call = Call(fast_barge_in=True)
    call.audible_reply()
    call.agent(TurnComplete())
    call.agent(AgentAudio(b"\x00"))  # a new turn, its first byte still held back
    assert call.core.playback.audible and 2 not in call.core.playback.ledger.turns
    onset = [a for _ in range(3) for a in call.frame(NOISE)]
    assert info(BARGED, 2, 0) in onset


# the agent


def test_a_reply_after_speech_is_timed_and_the_callers_words_recorded_first() -> None:
    call = Call.started()
    call.frame(cc.SPOKEN)
    spoke_at = call.now
    call.agent(Transcript("caller", "What time is it?"), after=0.1)
    actions = call.agent(AgentAudio(REPLY), after=0.4)
    assert actions[0] == act.Measured(act.Measure.TURN_LATENCY, call.now - spoke_at)
    assert actions[1:3] == [
        info("caller said: %r", "What time is it?"),
        TurnRecorded(Turn(1, "caller", "What time is it?")),
    ]
    assert call.events(actions) == [("media", STREAM), ("mark", STREAM)]
    assert not any(isinstance(a, act.Measured) for a in call.agent(AgentAudio(REPLY)))  # same turn
    call.agent(TurnComplete())
    assert kinds(call.agent(AgentAudio(REPLY), after=1.0)) == [ToCaller, ToCaller]  # no speech


def test_interrupted_sends_clear_and_records_what_was_heard() -> None:
    call = Call.started()
    call.agents(Transcript("agent", "It is nine"), AgentAudio(REPLY), AgentAudio(REPLY))
    call.frame(mark(call.marks()[0]))
    heard, sent = call.heard_ms(), call.sent_ms()
    assert 0 < heard < sent
    message = "agent turn %d interrupted: caller heard %.0f of %.0f ms sent: %r"
    assert call.agent(Interrupted()) == [
        ToCaller(wire.clear_message(STREAM), answers_interrupt=True),
        info(message, 1, heard, sent, "It is nine"),
        TurnRecorded(Turn(1, "agent", "It is nine", 1, True, sent, heard)),
    ]
    # Said again with no audio between: a clear to be safe, but the turn is not re-recorded.
    assert call.agent(Interrupted()) == [ToCaller(wire.clear_message(STREAM), True)]
    assert call.core.stats.interruptions == 2


def test_the_turn_completes_with_the_tail_and_the_agents_words() -> None:
    call = Call.started(live_transcripts=True)
    (shown,) = call.sent(call.agent(Transcript("agent", "Nine o'clock.")))
    assert shown == json.loads(wire.transcript_message(STREAM, "agent", "Nine o'clock."))
    call.agent(AgentAudio(REPLY))
    actions = call.agent(TurnComplete())
    assert call.events(actions) == [("media", STREAM), ("mark", STREAM), ("turnComplete", STREAM)]
    assert actions[-2:] == [
        info("agent turn %d (%.0f ms): %r", 1, cc.TURN_MS, "Nine o'clock."),
        TurnRecorded(Turn(1, "agent", "Nine o'clock.", 1, False, cc.TURN_MS, 0.0)),
    ]
    assert call.agent(TurnComplete()) == [ToCaller(wire.turn_complete_message(STREAM))]


def test_a_turn_still_playing_is_settled_when_its_last_mark_comes_back() -> None:
    call = Call.started()
    call.agents(Transcript("agent", "Nine."), AgentAudio(REPLY), TurnComplete())
    first, last = call.marks()
    assert call.frame(mark(first)) == []
    assert call.frame(mark(last)) == [
        act.TurnHeard(Turn(1, "agent", "Nine.", 1, False, cc.TURN_MS, cc.TURN_MS))
    ]
    assert call.frame(mark(last)) == []  # settled once


def test_tools_tokens_and_what_only_the_link_reads() -> None:
    call = Call.started()
    tool = ev.ToolCall("c1", "opening_hours", {"day": "monday"})
    assert call.agent(tool) == [act.StartTool(tool)]
    assert call.agent(ev.ToolCallCancelled(("c1",))) == [act.CancelTools(("c1",))]
    assert call.agent(ev.Usage(42)) == [act.Measured(act.Measure.TOKENS, 42)]
    call.agent(ev.Usage(8))
    assert call.core.stats.tokens == 50
    assert call.agent(Transcript("caller", "hi")) == []  # no live transcripts


SWITCHED = "on a new session (%s) after %.0f ms and %d attempt(s); resumed with %s"


@pytest.mark.parametrize(
    ("handle", "resumed"), [("h-1", "the latest handle"), (None, "no handle (fresh context)")]
)
def test_a_new_session_is_reported_and_logged(handle: str | None, resumed: str) -> None:
    call = Call.started()
    assert call.agent(SessionSwitched("go_away", 120.0, 2, handle)) == [
        act.SessionSwitched("go_away"),
        info(SWITCHED, "go_away", 120.0, 2, resumed),
    ]


def test_a_reply_cut_by_a_lost_session_ends_its_turn() -> None:
    call = Call.started()
    call.agents(Transcript("agent", "Let me"), AgentAudio(REPLY))
    actions = call.agent(SessionSwitched("reconnect", 80.0, 1, None))
    assert actions[:2] == [
        act.SessionSwitched("reconnect"),
        info("agent turn %d cut short by the session loss", 1),
    ]
    assert actions[-1] == info(SWITCHED, "reconnect", 80.0, 1, "no handle (fresh context)")
    assert kinds(actions[2:-1]) == [ToCaller, ToCaller, Log, TurnRecorded]
    assert call.core.playback.state.value == "silent"


# ending


def test_the_call_ends_once_the_goodbye_has_been_heard() -> None:
    call = Call.started(goodbye_instruction="Say goodbye.", goodbye_grace_s=15)
    call.frame(QUIET)
    reason = "an operator ended the call"
    assert call.goodbye(reason) == [
        info("ending the call (%s): asking the agent to say goodbye", reason),
        SendText("Say goodbye."),
    ]
    assert call.goodbye("again") == []  # once
    assert call.tick(0.1) == []  # not said yet
    call.reply()
    assert call.tick(0.1) == []  # said, not yet heard
    call.play_all()
    assert call.tick(0.1) == [Hangup(Outcome.COMPLETED, reason)]


def test_a_reply_cut_by_a_lost_session_is_not_the_goodbye() -> None:
    call = Call.started(goodbye_grace_s=15)
    call.goodbye("server shutting down")
    call.agents(AgentAudio(REPLY), SessionSwitched("reconnect", 120.0, 2, "handle-1"))
    call.play_all()
    assert call.tick(1.0) == []  # the model never completed a turn: wait for one
    call.reply()
    call.play_all()
    assert call.tick(0.1) == [Hangup(Outcome.COMPLETED, "server shutting down")]


def test_a_goodbye_heard_then_a_reply_cut_by_the_caller_waits_for_that_reply() -> None:
    call = Call(fast_barge_in=True, goodbye_grace_s=15)
    call.audible_reply()
    call.agent(TurnComplete())
    call.goodbye("caller silent")
    call.reply()
    call.play_all()
    call.agent(AgentAudio(REPLY))  # the agent goes on talking; the caller cuts it
    assert ToCaller(wire.clear_message(STREAM)) in [a for _ in range(3) for a in call.frame(NOISE)]
    assert call.tick(0.1) == []  # replying still, though nothing plays
    call.agent(TurnComplete())
    assert call.tick(0.1) == [Hangup(Outcome.COMPLETED, "caller silent")]


def test_without_a_heard_goodbye_the_grace_period_ends_it() -> None:
    call = Call.started(goodbye_grace_s=15)
    call.frame(QUIET)
    call.goodbye("caller silent")
    call.reply()
    assert call.tick(14.9) == []
    assert call.tick(0.2) == [Hangup(Outcome.COMPLETED, "caller silent")]


def test_the_transfer_tool_reaches_the_options_targets() -> None:
    call = Call.started(transfer_targets={"sales": "+15551230001"})
    reply, _ = call.control(TransferTool({"target": "sales"}))
    assert reply.accepted and "connecting them to sales" in reply.answer["result"]
    assert call.goodbye("later") == []  # already ending
    call.reply()
    call.play_all()
    assert call.tick(0.1) == [
        act.Transfer("sales", "+15551230001"),
        Hangup(Outcome.COMPLETED, "transfer to sales"),
    ]


def test_the_time_limit_says_goodbye() -> None:
    call = Call.started(limits=LimitPolicy(max_call_s=60), goodbye_grace_s=5)
    call.frame(QUIET)
    assert call.tick(59.9) == []
    assert texts(call.tick(0.1)) == ["Say a short goodbye."]
    assert call.tick(5.0) == [Hangup(Outcome.COMPLETED, "call time limit reached")]


# the end


def test_finish_reports_the_end_and_settles_what_was_heard() -> None:
    call = Call.started(100.0)
    call.agents(Transcript("agent", "A long reply."), AgentAudio(REPLY), Interrupted())
    call.agents(ev.Usage(7), Transcript("agent", "Again."), AgentAudio(REPLY), TurnComplete())
    link = LinkStats(sessions=2, switches=1, reconnects=3)
    summary, reports = call.core.finish(Outcome.COMPLETED, "caller hung up", 130.0, link, 4)
    played = Turn(2, "agent", "Again.", 2, False, cc.TURN_MS, 0.0)  # nothing of it was played back
    assert reports == [
        act.TurnHeard(played),
        act.CallEnded(
            CallEnd(CALL, 30.0, Outcome.COMPLETED, "caller hung up", 3, 1, 7, 1, 4), True
        ),
    ]
    turns, stats = call.core.transcript.turns, call.core.stats
    assert summary == CallSummary(
        CALL, STREAM, Outcome.COMPLETED, "caller hung up", 30.0, stats, turns, link
    )
    assert [t.heard_ms for t in summary.turns] == [0.0, 0.0]


def test_a_refused_call_ends_unadmitted() -> None:
    (refused := Call()).admitted("no capacity")
    summary, reports = refused.core.finish(Outcome.REFUSED, "no capacity", 1.0, LinkStats(), 0)
    assert reports == [
        act.CallEnded(CallEnd(CALL, 1.0, Outcome.REFUSED, "no capacity", 0, 0, 0, 0, 0), False)
    ]
    assert summary.stats == CallStats(frames_in=0) and summary.turns == []
