"""The call's core as a whole: frames, agent events and the clock in, actions out. No
sockets, no tasks: each step is one call and its answer."""

from __future__ import annotations

import json
import logging
from typing import Any

import numpy as np
import pytest

from app.agent.events import (
    AgentAudio,
    Interrupted,
    ToolCall,
    ToolCallCancelled,
    Transcript,
    TurnComplete,
    Usage,
)
from app.agent.link_state import LinkStats, SessionSwitched
from app.call.actions import (
    Action,
    Admit,
    CallBegan,
    CallEnded,
    CallerAudio,
    CancelTools,
    Hangup,
    Log,
    Measure,
    Measured,
    SendAudio,
    SendText,
    StartTool,
    ToCaller,
    Transfer,
    TurnRecorded,
)
from app.call.core import CallCore, CoreOptions, Phase
from app.call.guard import GuardPolicy
from app.call.limits import LimitPolicy
from app.call.outcome import Outcome
from app.telephony.captures import CALL, STREAM, build_capture

SPEECH = (np.sin(np.arange(160) * 0.3) * 6000).astype("<i2")
REPLY = (np.sin(np.arange(4800) * 0.05) * 8000).astype("<i2").tobytes()  # 200 ms at 24 kHz


def ulaw_speech() -> bytes:
    from app.audio.convert import pcm16_to_ulaw

    return pcm16_to_ulaw(SPEECH.tobytes())


FRAMES = [json.dumps(f) for f in build_capture(ulaw_speech() * 3 + b"\xff" * 160)]
CONNECTED, START = FRAMES[0], FRAMES[1]
SPOKEN, QUIET, STOP = FRAMES[2], FRAMES[5], FRAMES[-1]


class Call:
    """A core, with the driver's bookkeeping: the time, and every action so far."""

    def __init__(self, **options: Any) -> None:
        self.now = 0.0
        self.core = CallCore(CoreOptions(**options), self.now)
        self.actions: list[Action] = []

    def _keep(self, actions: list[Action]) -> list[Action]:
        self.actions += actions
        return actions

    def frame(self, raw: str, after: float = 0.02) -> list[Action]:
        self.now += after
        return self._keep(self.core.receive(raw, self.now))

    def agent(self, event: Any, after: float = 0.0) -> list[Action]:
        self.now += after
        return self._keep(self.core.agent(event, self.now))

    def tick(self, after: float) -> list[Action]:
        self.now += after
        return self._keep(self.core.tick(self.now))

    def admitted(self, refusal: str | None = None) -> list[Action]:
        self.frame(CONNECTED)
        (admit,) = self.frame(START)
        assert isinstance(admit, Admit) and admit.start.call_sid == CALL
        return self._keep(self.core.admission(refusal, self.now))

    def sent(self, actions: list[Action] | None = None) -> list[dict[str, Any]]:
        pool = self.actions if actions is None else actions
        return [json.loads(a.text) for a in pool if isinstance(a, ToCaller)]

    def marks(self) -> list[str]:
        return [m["mark"]["name"] for m in self.sent() if m["event"] == "mark"]

    def play_all(self) -> None:
        """Twilio played everything: every mark comes back."""
        for name in self.marks():
            self.frame(json.dumps({"event": "mark", "streamSid": STREAM, "mark": {"name": name}}))


def phase(call: Call) -> Phase:
    """Read afresh (the type checker would keep an earlier narrowing)."""
    return call.core.phase


def kinds(actions: list[Action]) -> list[type]:
    return [type(a) for a in actions]


def hangup(actions: list[Action]) -> Hangup | None:
    return next((a for a in actions if isinstance(a, Hangup)), None)


def texts(actions: list[Action]) -> list[str]:
    return [a.text for a in actions if isinstance(a, SendText)]


# the start


def test_a_start_is_not_a_call_until_admitted() -> None:
    call = Call(greeting="Greet them.")
    assert call.frame(CONNECTED) == []
    (admit,) = call.frame(START)
    assert isinstance(admit, Admit) and call.core.phase is Phase.ADMITTING
    actions = call.core.admission(None, call.now)
    assert phase(call) is Phase.IN_CALL
    assert kinds(actions) == [Log, CallBegan, SendText]
    began = actions[1]
    assert isinstance(began, CallBegan) and began.start.call_sid == CALL
    assert texts(actions) == ["Greet them."]


def test_a_refused_start_ends_before_anything_is_sent() -> None:
    call = Call(greeting="Greet them.")
    actions = call.admitted("stream token already used")
    assert hangup(actions) == Hangup(Outcome.REFUSED, "stream token already used")
    assert texts(actions) == [] and not any(isinstance(a, CallBegan) for a in actions)
    assert call.core.phase is Phase.ADMITTING


def test_an_outbound_call_is_greeted_with_the_outbound_greeting() -> None:
    call = Call(greeting="Inbound.", outbound_greeting="You called them.")
    call.frame(CONNECTED)
    start = json.loads(START)
    start["start"]["customParameters"]["direction"] = "outbound"
    call.frame(json.dumps(start))
    assert texts(call.core.admission(None, call.now)) == ["You called them."]


@pytest.mark.parametrize(
    ("steps", "outcome", "reason"),
    [
        ([STOP], Outcome.NO_START, "stream stopped before it started"),
        (["x"] * 3, Outcome.PROTOCOL_VIOLATION, "3 malformed messages"),
    ],
)
def test_streams_that_never_start(steps: list[str], outcome: Outcome, reason: str) -> None:
    call = Call(guard=GuardPolicy(max_malformed=2))
    ended = [a for step in steps for a in call.frame(step)]
    assert hangup(ended) == Hangup(outcome, reason)


def test_no_start_in_time_and_no_audio_after_it() -> None:
    call = Call(start_timeout_s=10)
    assert call.tick(9.9) == []
    assert hangup(call.tick(0.1)) == Hangup(Outcome.NO_START, "no start message in time")
    call = Call(limits=LimitPolicy(first_audio_timeout_s=5))
    call.admitted()
    assert call.tick(4.9) == []
    assert hangup(call.tick(0.1)) == Hangup(
        Outcome.PROTOCOL_VIOLATION, "no audio within 5 s of the start"
    )


def test_a_closed_socket_ends_the_call_as_what_it_was() -> None:
    call = Call()
    assert call.core.socket_closed(1006).outcome is Outcome.NO_START
    call.admitted()
    assert call.core.socket_closed(1000) == Hangup(
        Outcome.COMPLETED, "media socket closed (code 1000)"
    )


# the caller


def test_caller_audio_goes_to_the_agent_at_16_khz() -> None:
    call = Call(record_audio=True)
    call.admitted()
    actions = call.frame(SPOKEN)
    assert kinds(actions) == [CallerAudio, SendAudio]
    audio = actions[1]
    assert isinstance(audio, SendAudio) and len(audio.pcm16k) == 640  # 160 µ-law samples x2
    assert call.core.stats.frames_in == 1 and call.core.stats.caller_audio_ms == 20
    assert kinds(Call().core.receive(SPOKEN, 0.0)) == []  # before the start: nothing


def test_keys_are_forwarded_unless_turned_off() -> None:
    press = json.dumps({"event": "dtmf", "streamSid": STREAM, "dtmf": {"digit": "5"}})
    call = Call()
    call.admitted()
    assert texts(call.frame(press)) == ["The caller pressed 5 on their phone's keypad."]
    quiet = Call(forward_dtmf=False)
    quiet.admitted()
    assert texts(quiet.frame(press)) == []


def test_the_caller_hanging_up_ends_the_call() -> None:
    call = Call()
    call.admitted()
    assert hangup(call.frame(STOP)) == Hangup(Outcome.COMPLETED, "caller hung up")


# the agent


def test_a_reply_after_speech_is_timed_and_the_callers_words_recorded_first() -> None:
    call = Call()
    call.admitted()
    call.frame(SPOKEN)
    call.agent(Transcript("caller", "What time is it?"), after=0.1)
    actions = call.agent(AgentAudio(REPLY), after=0.4)
    latency = actions[0]
    assert isinstance(latency, Measured) and latency.measure is Measure.TURN_LATENCY
    assert latency.value == pytest.approx(0.5)
    turn = next(a for a in actions if isinstance(a, TurnRecorded)).turn
    assert (turn.speaker, turn.text) == ("caller", "What time is it?")
    assert [m["event"] for m in call.sent(actions)] == ["media", "mark"]
    second = call.agent(AgentAudio(REPLY))  # the same turn: no new latency
    assert not any(isinstance(a, Measured) for a in second)


def test_interrupted_sends_clear_and_records_what_was_heard() -> None:
    call = Call()
    call.admitted()
    call.agent(Transcript("agent", "It is nine"))
    call.agent(AgentAudio(REPLY))
    actions = call.agent(Interrupted())
    assert call.sent(actions)[0]["event"] == "clear"
    turn = next(a for a in actions if isinstance(a, TurnRecorded)).turn
    assert turn.interrupted and turn.text == "It is nine" and turn.heard_ms == 0
    assert call.core.stats.interruptions == 1


def test_the_turn_completes_with_the_tail_and_the_agents_words() -> None:
    call = Call(live_transcripts=True)
    call.admitted()
    transcript = call.agent(Transcript("agent", "Nine o'clock."))
    assert call.sent(transcript)[0]["transcript"] == {"speaker": "agent", "text": "Nine o'clock."}
    call.agent(AgentAudio(REPLY))
    actions = call.agent(TurnComplete())
    assert [m["event"] for m in call.sent(actions)] == ["media", "mark", "turnComplete"]
    turn = next(a for a in actions if isinstance(a, TurnRecorded)).turn
    assert (turn.speaker, turn.text, turn.interrupted) == ("agent", "Nine o'clock.", False)


def test_tools_tokens_and_what_only_the_link_reads() -> None:
    call = Call()
    call.admitted()
    tool = ToolCall("c1", "opening_hours", {"day": "monday"})
    assert call.agent(tool) == [StartTool(tool)]
    assert call.agent(ToolCallCancelled(("c1",))) == [CancelTools(("c1",))]
    assert call.agent(Usage(42)) == [Measured(Measure.TOKENS, 42)]
    assert call.core.stats.tokens == 42


# ending


def goodbye_said(call: Call) -> None:
    call.agent(AgentAudio(REPLY))
    call.agent(TurnComplete())


def test_the_call_ends_once_the_goodbye_has_been_heard() -> None:
    call = Call(goodbye_instruction="Say goodbye.", goodbye_grace_s=15)
    call.admitted()
    call.frame(QUIET)
    asked = call.core.say_goodbye("an operator ended the call", call.now)
    assert texts(asked) == ["Say goodbye."]
    assert call.core.say_goodbye("again", call.now) == []  # once
    assert call.tick(0.1) == []  # not said yet
    goodbye_said(call)
    assert call.tick(0.1) == []  # said, not yet heard
    call.play_all()
    assert hangup(call.tick(0.1)) == Hangup(Outcome.COMPLETED, "an operator ended the call")


def test_a_reply_cut_by_a_lost_session_is_not_the_goodbye() -> None:
    call = Call(goodbye_grace_s=15)
    call.admitted()
    call.frame(QUIET)
    call.core.say_goodbye("server shutting down", call.now)
    call.agent(AgentAudio(REPLY))
    switched = call.agent(SessionSwitched("reconnect", 120.0, 2, "handle-1"))
    assert any(isinstance(a, Log) and "cut short" in a.message for a in switched)
    call.play_all()
    assert call.tick(1.0) == []  # the model never completed a turn: wait for one
    goodbye_said(call)
    call.play_all()
    assert hangup(call.tick(0.1)) == Hangup(Outcome.COMPLETED, "server shutting down")


def test_without_a_heard_goodbye_the_grace_period_ends_it() -> None:
    call = Call(goodbye_grace_s=15)
    call.admitted()
    call.frame(QUIET)
    call.core.say_goodbye("caller silent", call.now)
    call.tick(14.9)
    assert hangup(call.tick(0.2)) == Hangup(Outcome.COMPLETED, "caller silent")


def test_end_call_and_transfer_tools() -> None:
    call = Call(transfer_targets={"sales": "+15551230001"})
    call.admitted()
    call.frame(QUIET)
    answer, logged = call.core.farewell.transfer_tool({"target": "nobody"}, call.now)
    assert answer["error"]["type"] == "unknown_target" and logged == []
    assert not call.core.ending.ending
    answer, logged = call.core.farewell.transfer_tool({"target": "sales"}, call.now)
    assert "connecting them to sales" in answer["result"]
    goodbye_said(call)
    call.play_all()
    departure = call.tick(0.1)
    assert departure == [
        Transfer("sales", "+15551230001"),
        Hangup(Outcome.COMPLETED, "transfer to sales"),
    ]
    other = Call()
    other.admitted()
    other.frame(QUIET)
    assert "goodbye" in other.core.farewell.end_call_tool({}, other.now)["result"]
    assert other.core.ending.reason == "end_call: the agent ended the call"


def test_an_operator_transfer_tells_the_agent() -> None:
    call = Call(transfer_targets={"sales": "+15551230001"})
    call.admitted()
    problem, actions = call.core.farewell.operator_transfer("sales", call.now)
    assert problem is None and texts(actions) and "sales" in texts(actions)[0]
    problem, _ = call.core.farewell.operator_transfer("kitchen", call.now)
    assert problem == "choose one of: sales"


def test_limits_ask_a_silent_caller_then_say_goodbye() -> None:
    call = Call(
        limits=LimitPolicy(idle_timeout_s=30), idle_instruction="Still there?", goodbye_grace_s=5
    )
    call.admitted()
    call.frame(QUIET)
    assert texts(call.tick(30.0)) == ["Still there?"]
    goodbye = call.tick(30.0)
    assert texts(goodbye) == [call.core._options.goodbye_instruction]
    assert hangup(call.tick(5.0)) == Hangup(Outcome.COMPLETED, "caller silent")


def test_the_time_limit() -> None:
    call = Call(limits=LimitPolicy(max_call_s=60), goodbye_grace_s=5)
    call.admitted()
    call.frame(QUIET)
    assert call.tick(59.0) == []
    assert any(
        isinstance(a, Log) and "call time limit reached" in str(a.args) for a in call.tick(1.0)
    )


# the end


def test_finish_reports_the_end_and_settles_what_was_heard() -> None:
    call = Call()
    call.admitted()
    call.agent(Transcript("agent", "A long reply."))
    call.agent(AgentAudio(REPLY))
    call.agent(TurnComplete())
    summary, reports = call.core.finish(Outcome.COMPLETED, "caller hung up", 2.0, LinkStats(), 0)
    ended = reports[-1]
    assert isinstance(ended, CallEnded) and ended.admitted and ended.end.call_sid == CALL
    assert summary.turns[0].heard_ms == 0  # nothing was played back
    refused = Call()
    refused.admitted("no capacity")
    _, reports = refused.core.finish(Outcome.REFUSED, "no capacity", 1.0, LinkStats(), 0)
    (ended,) = reports
    assert isinstance(ended, CallEnded) and not ended.admitted


def test_logs_name_what_happened_without_the_values_of_strangers() -> None:
    call = Call()
    call.frame(CONNECTED)
    call.frame(START)
    (log, *_) = call.core.admission(None, call.now)
    assert isinstance(log, Log) and log.level == logging.INFO
    assert log.message == "stream started (caller %r)"  # repr: a caller name is untrusted
