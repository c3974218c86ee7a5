"""One call's decisions, sans I/O: frames and agent events in, actions out, the clock
passed in. The driver (:mod:`app.call.bridge`) pumps sockets through it.

:class:`CallCore` composes the call's small machines: the inbound guard, the playback
(the agent's turn state and what was heard), the transcript, the limits in time, the
polite ending, dead-air recovery and the thinking sound. Fleet mode or an operator
console each add one more machine here, or one more sink for its reports.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum

import numpy as np

from app.agent.events import (
    IN_PROGRESS,
    AgentAudio,
    AgentEvent,
    GenerationComplete,
    InteractionStatus,
    Interrupted,
    ToolCall,
    ToolCallCancelled,
    TurnComplete,
    Usage,
    VoiceActivity,
    WaitingForInput,
)
from app.agent.events import Transcript as Heard
from app.agent.link_state import LinkStats
from app.agent.link_state import SessionSwitched as Switched
from app.audio.convert import InboundConverter, is_speech, ulaw_to_pcm16
from app.audio.onset import OnsetDetector
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
    SessionSwitched,
    StartTool,
    ToCaller,
    info,
)
from app.call.controls import (
    ACCEPTED,
    NOT_STARTED,
    Control,
    EndCall,
    EndCallTool,
    Reply,
    Say,
    ToolAnswered,
    TransferTool,
)
from app.call.dead_air import DeadAirPolicy, DeadAirWatch
from app.call.ending import Ending
from app.call.farewell import Farewell
from app.call.guard import Dropped, GuardPolicy, InboundGuard, Violation
from app.call.ledger import TurnPlayback
from app.call.limits import CallLimits, Limit, LimitPolicy
from app.call.outcome import Outcome
from app.call.playback import Playback, Speech
from app.call.record import CallEnd, CallStart, CallStats, CallSummary
from app.call.thinking import ThinkingAudio, ThinkingPolicy
from app.call.transcript import Transcript
from app.telephony import wire

ULAW_BYTES_PER_MS = 8


@dataclass(frozen=True)
class CoreOptions:
    greeting: str = ""
    outbound_greeting: str = ""
    start_timeout_s: float = 10.0
    guard: GuardPolicy = field(default_factory=GuardPolicy)
    limits: LimitPolicy = field(default_factory=LimitPolicy)
    goodbye_instruction: str = "Say a short goodbye."
    idle_instruction: str = "Ask if the caller is still there."
    goodbye_grace_s: float = 15.0  # longest wait for the goodbye to be heard
    transfer_targets: Mapping[str, str] = field(default_factory=dict)
    forward_dtmf: bool = True
    redact_dtmf: bool = False  # keypad digits reach the model and nothing else
    fast_barge_in: bool = False  # stop playback on local speech onset, before Gemini says so
    record_audio: bool = False  # report the call's audio (for a recording)
    live_transcripts: bool = False  # transcripts down the media stream (the softphone)
    dead_air: DeadAirPolicy = field(default_factory=DeadAirPolicy)
    thinking: ThinkingPolicy = field(default_factory=ThinkingPolicy)


class Phase(Enum):
    AWAITING_START = "awaiting start"
    ADMITTING = "admitting"  # a start arrived; the switchboard decides
    IN_CALL = "in call"


class CallCore:
    def __init__(self, options: CoreOptions, now: float) -> None:
        self._options = options
        self._began = now
        self.phase = Phase.AWAITING_START
        self.start: wire.Start | None = None
        self.stats = CallStats()
        self.guard = InboundGuard(options.guard, self.stats)
        self.limits = CallLimits(options.limits, now)
        self.ending = Ending(options.goodbye_grace_s)
        self.farewell = Farewell(self.ending, options.goodbye_instruction, options.transfer_targets)
        self.transcript = Transcript()
        self.playback = Playback("", self.stats, track_peaks=False, record=False)
        self.dead_air = DeadAirWatch(options.dead_air, self.transcript.history)
        self.thinking = ThinkingAudio(options.thinking, "", record=False)
        self._inbound = InboundConverter()
        self._onset = OnsetDetector() if options.fast_barge_in else None
        self._caller_spoke_at: float | None = None  # last caller speech since the agent spoke

    @property
    def call_sid(self) -> str:
        return self.start.call_sid if self.start else ""

    @property
    def stream_sid(self) -> str:
        return self.start.stream_sid if self.start else ""

    # the media socket

    def receive(self, frame: str | bytes, now: float) -> list[Action]:
        sorted_ = self.guard.sort(frame, now)
        if isinstance(sorted_, Violation):
            return [Hangup(Outcome.PROTOCOL_VIOLATION, sorted_.reason)]
        if isinstance(sorted_, Dropped):
            return [Log(logging.WARNING, sorted_.note)] if sorted_.note else []
        if self.phase is Phase.AWAITING_START:
            if isinstance(sorted_, wire.Start):
                self.start, self.phase = sorted_, Phase.ADMITTING
                self.guard.stream_sid = sorted_.stream_sid
                return [Admit(sorted_)]
            return [Hangup(Outcome.NO_START, "stream stopped before it started")]
        if isinstance(sorted_, wire.Media):
            return self._caller_audio(sorted_.payload, now)
        if isinstance(sorted_, wire.Mark):
            if self.thinking.owns(sorted_.name):
                return self.thinking.mark(sorted_.name)
            if self.playback.mark(sorted_.name) is not None:
                self.dead_air.heard(now)  # the caller heard agent audio until now
            if not self.transcript.settling:
                return []
            return self.transcript.settle(self.playback.ledger, call_over=False)
        if isinstance(sorted_, wire.Dtmf):
            return self._key(sorted_.digit)
        return [Hangup(Outcome.COMPLETED, "caller hung up")]  # stop

    def socket_closed(self, code: int | None) -> Hangup:
        reason = f"media socket closed (code {code})"
        if self.phase is Phase.AWAITING_START:
            return Hangup(Outcome.NO_START, reason)
        return Hangup(Outcome.COMPLETED, reason)

    def admission(self, refusal: str | None, now: float) -> list[Action]:
        """The switchboard's answer to :class:`Admit`: a refusal, or None to go on."""
        assert self.start is not None and self.phase is Phase.ADMITTING
        caller = self.start.custom_parameters.get("from", "unknown")
        actions: list[Action] = [info("stream started (caller %r)", caller)]
        if refusal is not None:
            return [*actions, Hangup(Outcome.REFUSED, refusal)]
        self.phase = Phase.IN_CALL
        self.limits.admitted(now)
        options = self._options
        self.playback = Playback(
            self.stream_sid,
            self.stats,
            track_peaks=self._onset is not None,
            record=options.record_audio,
        )
        self.thinking = ThinkingAudio(
            options.thinking, self.stream_sid, record=options.record_audio
        )
        params = self.start.custom_parameters
        direction = params.get("direction", "inbound")
        start = CallStart(
            self.call_sid, self.stream_sid, params.get("from"), params.get("to"), direction
        )
        actions.append(CallBegan(start))
        greeting = options.outbound_greeting if direction == "outbound" else options.greeting
        if greeting:
            actions.append(SendText(greeting))  # the link sends it once connected
        return actions

    def _caller_audio(self, ulaw: bytes, now: float) -> list[Action]:
        self.stats.frames_in += 1
        self.stats.caller_audio_ms += len(ulaw) / ULAW_BYTES_PER_MS
        pcm = self._inbound.convert(ulaw)
        actions: list[Action] = [CallerAudio(ulaw)] if self._options.record_audio else []
        if self._onset is not None:
            actions.extend(self._watch_for_onset(ulaw))
        speech = is_speech(pcm)
        self.limits.caller_audio(now, speech=speech)
        if speech:
            self._caller_spoke_at = now
            self.dead_air.caller_speech(now)
            actions.extend(self.thinking.caller_speech(now))
        actions.append(SendAudio(pcm))
        return actions

    def _watch_for_onset(self, ulaw: bytes) -> list[Action]:
        assert self._onset is not None
        playback = self.playback
        audible = playback.audible and playback.state is not Speech.MUTED
        caller = np.frombuffer(ulaw_to_pcm16(ulaw), dtype="<i2").astype(np.float64)
        echo_level = playback.peak_dbfs if audible else None
        if not (self._onset.feed(caller, echo_level) and audible):
            return []
        cut, actions = playback.barge_in()
        message = "fast barge-in: caller speech detected; playback of turn %d stopped after %.0f ms"
        actions.append(info(message, playback.turn, cut.heard_ms if cut else 0))
        return actions

    def _key(self, digit: str) -> list[Action]:
        if self._options.redact_dtmf:
            actions: list[Action] = [info("caller pressed a key (the digit is not kept)")]
        else:
            actions = [info("caller pressed %s", digit)]
        if self._options.forward_dtmf:
            actions.append(SendText(f"The caller pressed {digit} on their phone's keypad."))
        return actions

    # the agent

    def agent(self, event: AgentEvent | Switched, now: float) -> list[Action]:
        if isinstance(event, AgentAudio):
            return self._play(event.pcm, now)
        if isinstance(event, Interrupted):
            return self._interrupted(now)
        if isinstance(event, TurnComplete):
            self.ending.turn_completed()
            return self._turn_complete(event, now)
        if isinstance(event, Heard):
            self.transcript.heard(event.speaker, event.text)
            if event.speaker == "caller" and event.text.strip():
                self.dead_air.caller_said(now)
            if not self._options.live_transcripts:
                return []
            text = wire.transcript_message(self.stream_sid, event.speaker, event.text)
            return [ToCaller(text)]
        if isinstance(event, Switched):
            return self._switched(event, now)
        if isinstance(event, ToolCall):
            self.dead_air.tool_started(event.key)
            self.thinking.tool_started(event.key, now)
            return [StartTool(event)]
        if isinstance(event, ToolCallCancelled):
            return [CancelTools(event.call_ids), *self._tools_done(event.call_ids, now)]
        if isinstance(event, VoiceActivity):
            return self._voice_activity(event, now)
        if isinstance(event, GenerationComplete):
            self.dead_air.generation_complete()
            return []
        if isinstance(event, WaitingForInput):
            self.dead_air.waiting_for_input()
            return []
        if isinstance(event, InteractionStatus):
            self.dead_air.interaction(event.in_progress, now)
            return self.thinking.in_progress(event.in_progress, now)
        if isinstance(event, Usage):
            self.stats.tokens += event.total_tokens
            return [Measured(Measure.TOKENS, event.total_tokens)]
        return []  # resumption handles and goAway are the link's; the rest is not ours

    def _play(self, pcm24k: bytes, now: float) -> list[Action]:
        began, sent = self.playback.audio(pcm24k)
        if self.playback.state is Speech.SPEAKING:  # not dropped: it reaches the caller
            sent = [*self.thinking.agent_audio(now), *self.dead_air.agent_audio(now), *sent]
        if not began:
            return sent
        actions: list[Action] = []
        if self._caller_spoke_at is not None:
            actions.append(Measured(Measure.TURN_LATENCY, now - self._caller_spoke_at))
            self._caller_spoke_at = None
        return actions + self.transcript.caller_turn() + sent

    def _interrupted(self, now: float) -> list[Action]:
        audible = self.playback.audible
        cut, actions = self.playback.interrupted()
        self.dead_air.interrupted(now, cut=audible)
        return [*self.thinking.caller_speech(now), *actions, *self._record_cut(cut)]

    def _record_cut(self, cut: TurnPlayback | None) -> list[Action]:
        """The agent's turn cut by the caller: logged and recorded as far as it was heard."""
        if cut is None:
            return []
        message = "agent turn %d interrupted: caller heard %.0f of %.0f ms sent: %r"
        text = self.transcript.agent_text
        logged = info(message, cut.turn, cut.heard_ms, cut.sent_ms, text)
        return [logged, *self.transcript.agent_turn(cut, interrupted=True)]

    def _voice_activity(self, event: VoiceActivity, now: float) -> list[Action]:
        """Gemini heard the caller start (or stop) talking. A start over the agent is a
        barge-in, acted on at once: whichever of it and ``interrupted`` comes first cuts
        the reply, and the second finds nothing left to cut."""
        self.dead_air.voice_activity(event.start, now)
        if not event.start:
            return []
        actions = self.thinking.caller_speech(now)
        if not self.playback.audible:
            return actions
        cut, cleared = self.playback.cut_off()
        return [*actions, *cleared, *self._record_cut(cut)]

    def _turn_complete(self, event: TurnComplete, now: float) -> list[Action]:
        self.dead_air.turn_complete(
            now, reason=event.reason, waiting=event.waiting_for_input, status=event.status
        )
        actions = self.thinking.in_progress(event.status == IN_PROGRESS, now)
        return actions + self._end_turn(event)

    def _tools_done(self, keys: tuple[str, ...], now: float) -> list[Action]:
        actions: list[Action] = []
        for key in keys:
            self.dead_air.tool_finished(key, now)
            actions += self.thinking.tool_finished(key, now)
        return actions

    def tool_answered(self, key: str, now: float) -> list[Action]:
        """A tool call (told apart by its :attr:`ToolCall.key`) was answered."""
        return self._tools_done((key,), now)

    def _end_turn(self, ended: TurnComplete | None = None) -> list[Action]:
        playback = self.playback
        actions = playback.completed()
        if self._options.live_transcripts:
            actions.append(ToCaller(wire.turn_complete_message(self.stream_sid)))
        actions += self.transcript.caller_turn()
        text = self.transcript.agent_text
        if text:
            turn = playback.ledger.turn(playback.turn)
            actions.append(info("agent turn %d (%.0f ms): %r", playback.turn, turn.sent_ms, text))
            actions += self.transcript.agent_turn(turn, interrupted=False, ended=ended)
        elif ended is not None and (
            ended.reason or ended.waiting_for_input or ended.status == IN_PROGRESS
        ):
            # A turn the model ended without a word: how it ended is worth keeping.
            reason = ended.reason or ("waiting for input" if ended.waiting_for_input else "")
            reason = reason or "still working in the background"
            actions.append(info("the model ended a turn without speaking (%s)", reason))
            actions += self.transcript.agent_turn(TurnPlayback(0), interrupted=False, ended=ended)
        return actions

    def _switched(self, event: Switched, now: float) -> list[Action]:
        actions: list[Action] = [SessionSwitched(event.reason)]
        if self.playback.state is not Speech.SILENT:
            # The reply was cut by the loss; what was sent still plays. End the turn so
            # the next reply starts clean (it is not a turn the model completed).
            actions.append(info("agent turn %d cut short by the session loss", self.playback.turn))
            actions += self._end_turn()
        message = "on a new session (%s) after %.0f ms and %d attempt(s); resumed with %s"
        handle = "the latest handle" if event.handle else "no handle (fresh context)"
        actions.append(info(message, event.reason, event.gap_ms, event.attempts, handle))
        return actions + self.dead_air.switched(now, resumed=event.handle is not None)

    # time

    def tick(self, now: float) -> list[Action]:
        actions = self._limits(now)
        if self.phase is not Phase.IN_CALL or any(isinstance(a, Hangup) for a in actions):
            return actions
        playback = self.playback
        actions += self.thinking.tick(now, audible=playback.audible)
        # What the caller hears, not whether a reply is under way: one that stops
        # mid-sentence is still "speaking", with nothing left to play.
        ending = self.ending.ending
        return actions + self.dead_air.tick(now, audible=playback.playing, ending=ending)

    def _limits(self, now: float) -> list[Action]:
        if self.phase is Phase.AWAITING_START:
            if now - self._began >= self._options.start_timeout_s:
                return [Hangup(Outcome.NO_START, "no start message in time")]
            return []
        if self.phase is not Phase.IN_CALL:
            return []
        if self.limits.no_audio(now):
            seconds = self._options.limits.first_audio_timeout_s
            reason = f"no audio within {seconds:g} s of the start"
            return [Hangup(Outcome.PROTOCOL_VIOLATION, reason)]
        playback = self.playback
        if self.ending.ending:
            replying = playback.state is not Speech.SILENT
            departure = self.ending.due(now, replying=replying, audible=playback.audible)
            return Farewell.leave(departure) if departure else []
        limit = self.limits.tick(now, audible=playback.audible)
        if limit is Limit.ASK:
            seconds = self._options.limits.idle_timeout_s
            return [
                info("caller silent for %.0f s: asking if they are still there", seconds),
                SendText(self._options.idle_instruction),
            ]
        if limit is not None:
            return self.farewell.say_goodbye(limit.value, now)
        return []

    # the one door: what acts on the call from outside its streams (an operator, another
    # process, shutdown, the agent's built-in tools), handled like any other event

    def control(self, control: Control, now: float) -> tuple[Reply, list[Action]]:
        if isinstance(control, EndCallTool):
            answer = self.farewell.end_call_tool(dict(control.args), now)
            return Reply(True, answer=answer), []
        if isinstance(control, TransferTool):
            answer, actions = self.farewell.transfer_tool(dict(control.args), now)
            return Reply(True, answer=answer), actions
        if isinstance(control, ToolAnswered):
            return ACCEPTED, self.tool_answered(control.key, now)
        if self.phase is not Phase.IN_CALL:
            return NOT_STARTED, []
        if isinstance(control, Say):
            return ACCEPTED, Farewell.operator_say(control.text)
        if isinstance(control, EndCall):
            return ACCEPTED, self.farewell.say_goodbye(control.reason, now)
        problem, actions = self.farewell.operator_transfer(control.target, now)
        return (ACCEPTED if problem is None else Reply(False, problem)), actions

    # the end

    def finish(
        self, outcome: Outcome, reason: str, now: float, link: LinkStats, tool_calls: int
    ) -> tuple[CallSummary, list[Action]]:
        actions = self.transcript.settle(self.playback.ledger, call_over=True)
        duration = now - self._began
        end = CallEnd(
            self.call_sid,
            duration,
            outcome,
            reason,
            reconnects=link.reconnects,
            switches=link.switches,
            tokens=self.stats.tokens,
            interruptions=self.stats.interruptions,
            tool_calls=tool_calls,
            dead_air=self.dead_air.recoveries,
        )
        actions.append(CallEnded(end, admitted=self.phase is Phase.IN_CALL))
        summary = CallSummary(
            self.call_sid,
            self.stream_sid,
            outcome,
            reason,
            duration,
            self.stats,
            self.transcript.turns,
            link,
        )
        return summary, actions
