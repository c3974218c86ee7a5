"""One call: Twilio's media socket ⇄ one live agent session.

A :class:`CallBridge` owns the two streams of one call and its small state: the
audio converters, the playback ledger and the current agent turn. It runs the call
in a task group of two pumps (caller → agent, agent → caller) and ends when the
caller hangs up, the socket drops, or the agent session fails. It depends only on
the interfaces in :mod:`app.ports`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np

from app import twilio_wire as wire
from app.audio import InboundConverter, OutboundConverter, is_speech, ulaw_to_pcm16
from app.events import (
    AgentAudio,
    AgentEvent,
    AgentSessionError,
    GoAway,
    Interrupted,
    ResumptionHandle,
    ToolCall,
    ToolCallCancelled,
    Transcript,
    TurnComplete,
    Usage,
)
from app.ledger import PlaybackLedger
from app.limits import TokenBucket
from app.link import AgentLink, LinkPolicy, LinkStats, SessionSwitched
from app.onset import OnsetDetector, level_dbfs
from app.ports import (
    AgentConnector,
    CallControl,
    CallControlError,
    CallObserver,
    CallRecorder,
    MediaSocket,
    NoObserver,
    SocketClosed,
)
from app.recording import StereoRecording, open_recording
from app.toolcalls import Builtin, ToolCalls
from app.tools import END_CALL, TRANSFER_CALL, Tool
from app.twiml import transfer_twiml

log = logging.getLogger(__name__)

INBOUND_TRACKS = frozenset({"inbound", "inbound_track"})
ULAW_BYTES_PER_MS = 8
CALLER_PUMP = "call: caller→agent"
AGENT_PUMP = "call: agent→caller"
WATCHDOG = "call: watchdog"
CALL_TASKS = frozenset({CALLER_PUMP, AGENT_PUMP, WATCHDOG})
WATCH_INTERVAL_S = 0.1


class Outcome(StrEnum):
    COMPLETED = "completed"  # the caller hung up or Twilio stopped the stream
    AGENT_FAILED = "agent_failed"  # the live session failed; the caller hears an apology
    NO_START = "no_start"  # the socket never sent a valid `start`
    REFUSED = "refused"  # bad stream token, or no capacity: no session was opened
    PROTOCOL_VIOLATION = "protocol_violation"  # a flood of messages or of malformed ones
    INTERNAL_ERROR = "internal_error"  # a fault in this server; the caller hears an apology


# Outcomes after which the <Connect action> plays the apology instead of hanging up.
APOLOGY_OUTCOMES = frozenset({Outcome.AGENT_FAILED, Outcome.INTERNAL_ERROR})


# WebSocket close codes the server uses, by outcome (Twilio then runs <Connect action>).
CLOSE_CODES = {
    Outcome.COMPLETED: 1000,
    Outcome.AGENT_FAILED: 1000,
    Outcome.NO_START: 1008,
    Outcome.REFUSED: 1008,
    Outcome.PROTOCOL_VIOLATION: 1008,
    Outcome.INTERNAL_ERROR: 1011,
}


def close_reason(outcome: Outcome, reason: str) -> str:
    """``outcome: reason`` within the 123 bytes a close frame allows. Twilio ignores it;
    the softphone shows it, so an operator sees why a call failed (a wrong key, say)."""
    text = f"{outcome.value}: {reason}" if reason else outcome.value
    encoded = text.encode()
    if len(encoded) <= 123:
        return text
    return encoded[:120].decode(errors="ignore") + "…"


@dataclass
class CallStats:
    frames_in: int = 0
    caller_audio_ms: float = 0.0
    agent_audio_ms: float = 0.0
    agent_turns: int = 0
    interruptions: int = 0
    fast_barge_ins: int = 0
    malformed_frames: int = 0
    ignored_frames: int = 0
    tokens: int = 0


@dataclass
class CallSummary:
    call_sid: str
    stream_sid: str
    outcome: Outcome
    reason: str
    duration_s: float
    stats: CallStats
    turns: list[dict[str, Any]] = field(default_factory=list)
    link: LinkStats = field(default_factory=LinkStats)


@dataclass(frozen=True)
class BridgeOptions:
    greeting: str = ""
    start_timeout_s: float = 10.0
    # Twilio streams audio from the start (silence too): a stream that sends none is not
    # a call, and must not hold a Gemini session and a line for long.
    first_audio_timeout_s: float = 10.0
    link: LinkPolicy = field(default_factory=LinkPolicy)
    max_call_s: float = 0.0  # 0: no limit
    idle_timeout_s: float = 0.0  # 0: off
    goodbye_instruction: str = "Say a short goodbye."
    idle_instruction: str = "Ask if the caller is still there."
    goodbye_grace_s: float = 15.0  # longest wait for the goodbye to be heard
    # Checked on `start`, before any session opens: a reason to refuse, or None.
    admit: Callable[[wire.Start], str | None] | None = None
    max_malformed: int = 100
    max_messages_per_s: float = 250.0
    tools: tuple[Tool, ...] = ()  # what the session declares, built-ins included
    tool_timeout_s: float = 10.0
    transfer_targets: Mapping[str, str] = field(default_factory=dict)
    forward_dtmf: bool = True
    outbound_greeting: str = ""
    # Told about a transfer before the stream closes, so the <Connect action> can dial.
    on_transfer: Callable[[str, str], None] | None = None
    fast_barge_in: bool = False  # stop playback on local speech onset, before Gemini says so
    recordings_dir: Path | None = None  # a stereo WAV per call (caller left, agent right)
    # Send transcripts down the media stream (the softphone shows them; never to Twilio).
    live_transcripts: bool = False
    log_malformed_first: int = 5  # then every 100th, so a flood cannot flood the log


class _CallOver(Exception):
    def __init__(self, reason: str, outcome: Outcome = Outcome.COMPLETED) -> None:
        super().__init__(reason)
        self.reason = reason
        self.outcome = outcome


class _CallLog(logging.LoggerAdapter):  # type: ignore[type-arg]
    """Prefixes every line with the call's ids."""

    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        extra = self.extra or {}
        return f"[call {extra.get('call_sid', '-')} stream {extra.get('stream_sid', '-')}] {msg}", {
            **kwargs,
            "extra": {**extra, **kwargs.get("extra", {})},
        }


class CallBridge:
    """Runs one call from the first frame to the last."""

    def __init__(
        self,
        socket: MediaSocket,
        connector: AgentConnector,
        options: BridgeOptions,
        control: CallControl | None = None,
        observer: CallObserver | None = None,
        recorder: CallRecorder | None = None,
    ) -> None:
        self._socket = socket
        self._connector = connector
        self._options = options
        self._inbound = InboundConverter()
        self._outbound = OutboundConverter()
        self.ledger = PlaybackLedger()
        self.stats = CallStats()
        self.start: wire.Start | None = None
        self._turn = 0
        self._speaking = False
        self._caller_text: list[str] = []
        self._agent_text: list[str] = []
        self._transcript: list[dict[str, Any]] = []
        # Agent turns recorded when they completed, still playing: heard_ms follows marks.
        self._playing_turns: list[dict[str, Any]] = []
        self._log_ids = {"call_sid": "-", "stream_sid": "-"}
        self.log = _CallLog(log, self._log_ids)
        self.link = AgentLink(connector, options.link, self.log)
        self._began = time.monotonic()
        self._observed = False  # call_started was reported: call_ended must follow
        self._admitted_at = 0.0  # when the start passed admission
        self._last_speech = self._began
        self._idle_prompted = False
        self._ending: str | None = None
        self._ending_deadline = 0.0
        self._onset = OnsetDetector() if options.fast_barge_in else None
        self._muted = False  # after a local barge-in: drop the rest of this agent turn
        self._turn_peak_dbfs = -120.0  # loudest agent audio of the turn (for echo)
        self._turns_done = 0  # TurnComplete events seen
        self._turns_done_at_ending = 0
        self._transfer_to: tuple[str, str] | None = None  # (target name, number)
        self._control = control
        self._observer: CallObserver = observer or NoObserver()
        self._recorder = recorder
        self._recording: StereoRecording | None = None
        self._caller_spoke_at: float | None = None  # last caller speech since the agent spoke
        builtins: dict[str, Builtin] = {END_CALL: self._end_call_tool}
        if options.transfer_targets:
            builtins[TRANSFER_CALL] = self._transfer_tool
        self.tools = ToolCalls(
            {t.name: t for t in options.tools},
            {name: fn for name, fn in builtins.items() if name in {t.name for t in options.tools}},
            self.link.send_tool_response,
            options.tool_timeout_s,
            self.log,
        )
        burst = 2 * options.max_messages_per_s
        self._budget = TokenBucket(rate=options.max_messages_per_s, burst=burst)

    @property
    def call_sid(self) -> str:
        return self.start.call_sid if self.start else ""

    @property
    def stream_sid(self) -> str:
        return self.start.stream_sid if self.start else ""

    async def run(self) -> CallSummary:
        """The whole call. Never raises: whatever happens, the call ends with an outcome,
        its record and metrics are settled, and the socket is closed with a code."""
        try:
            outcome, reason = await self._run()
        except Exception as error:  # the call's boundary: a fault here must not leave
            # the caller in dead air; they hear the apology (APOLOGY_OUTCOMES).
            while isinstance(error, ExceptionGroup) and error.exceptions:
                error = error.exceptions[0]
            self.log.error("call failed inside the server: %r", error, exc_info=error)
            outcome, reason = Outcome.INTERNAL_ERROR, f"internal error ({type(error).__name__})"
        return await self._finish(outcome, reason)

    async def _run(self) -> tuple[Outcome, str]:
        try:
            self.start = await asyncio.wait_for(
                self._wait_for_start(), self._options.start_timeout_s
            )
            # Updated in place: the link and everything else holding this adapter follow.
            self._log_ids.update(call_sid=self.call_sid, stream_sid=self.stream_sid)
            self.log.info(
                "stream started (caller %r)", self.start.custom_parameters.get("from", "unknown")
            )
            refusal = self._options.admit(self.start) if self._options.admit else None
            if refusal is not None:
                raise _CallOver(refusal, Outcome.REFUSED)
            self._observer.call_started()
            self._observed = True
            if self._recorder is not None:
                params = self.start.custom_parameters
                self._recorder.call_started(
                    self.call_sid,
                    {
                        "stream_sid": self.stream_sid,
                        "caller": params.get("from"),
                        "called": params.get("to"),
                        "direction": params.get("direction", "inbound"),
                    },
                )
            self._admitted_at = time.monotonic()
            if self._options.recordings_dir is not None:
                self._open_recording(self._options.recordings_dir)
            return await self._converse()
        except TimeoutError:
            return Outcome.NO_START, "no start message in time"
        except _CallOver as over:
            outcome = over.outcome if over.outcome is not Outcome.COMPLETED else Outcome.NO_START
            return outcome, over.reason
        except AgentSessionError as error:
            return Outcome.AGENT_FAILED, error.reason

    async def _finish(self, outcome: Outcome, reason: str) -> CallSummary:
        """Settle what the call leaves behind, each step on its own: one failing (a full
        disk, a locked database) is logged and does not stop the others."""
        if self._observed:
            self._settle("metrics", lambda: self._observer.call_ended(outcome.value))
        self._settle("call record", lambda: self._settle_heard(call_over=True))
        summary = CallSummary(
            call_sid=self.call_sid,
            stream_sid=self.stream_sid,
            outcome=outcome,
            reason=reason,
            duration_s=time.monotonic() - self._began,
            stats=self.stats,
            turns=self._transcript,
            link=self.link.stats,
        )
        recorder = self._recorder
        if recorder is not None and self.call_sid and outcome is not Outcome.REFUSED:
            fields = {
                "duration_s": summary.duration_s,
                "outcome": outcome.value,
                "reason": reason,
                "reconnects": self.link.stats.reconnects,
                "switches": self.link.stats.switches,
                "tokens": self.stats.tokens,
                "interruptions": self.stats.interruptions,
                "tool_calls": self.tools.completed + self.tools.failed,
            }
            self._settle("call record", lambda: recorder.call_ended(self.call_sid, fields))
        recording = self._recording
        if recording is not None:
            self._settle("recording", recording.close)
            self.log.info("recording: %s (%.1f s)", recording.path, recording.seconds)
        level = logging.ERROR if outcome in APOLOGY_OUTCOMES else logging.INFO
        self.log.log(
            level,
            "call ended: %s (%s); %.1f s, %d agent turns, %d interruptions, %d malformed frames,"
            " %d goAway switches, %d reconnects, %.0f ms caller audio dropped",
            outcome.value,
            reason,
            summary.duration_s,
            self.stats.agent_turns,
            self.stats.interruptions,
            self.stats.malformed_frames,
            self.link.stats.switches,
            self.link.stats.reconnects,
            self.link.stats.dropped_ms,
        )
        # Always close with a code (a no-op if the peer is gone); closing is also what
        # makes Twilio request the <Connect action>, which plays the apology if needed.
        await self._socket.close(CLOSE_CODES[outcome], close_reason(outcome, reason))
        return summary

    def _open_recording(self, directory: Path) -> None:
        """Named by the CallSid only (never the streamSid); a recording that cannot be
        made is logged, and the call goes on without it."""
        try:
            self._recording = open_recording(directory, self.call_sid)
        except (OSError, ValueError) as error:
            self.log.error("not recording this call: %s", error)

    def _settle(self, what: str, step: Callable[[], object]) -> None:
        try:
            step()
        except Exception as error:  # settling one sink must not stop the others
            self.log.error("could not settle the %s: %r", what, error, exc_info=error)

    async def _next_event(self) -> wire.TwilioEvent:
        """The next well-formed, interesting frame; malformed ones are counted and logged."""
        while True:
            try:
                frame = await self._socket.receive()
            except SocketClosed as closed:
                raise _CallOver(f"media socket closed (code {closed.code})") from None
            if not self._budget.allow(time.monotonic()):
                raise _CallOver("message flood", Outcome.PROTOCOL_VIOLATION)
            try:
                event = wire.parse(frame)
            except wire.ProtocolError as error:
                self._malformed(error.reason)
                continue
            if event is None:
                self.stats.ignored_frames += 1
                continue
            return event

    def _malformed(self, reason: str) -> None:
        self.stats.malformed_frames += 1
        count = self.stats.malformed_frames
        if count <= self._options.log_malformed_first or count % 100 == 0:
            self.log.warning("ignored malformed Twilio frame #%d: %r", count, reason)
        if count > self._options.max_malformed:
            raise _CallOver(f"{count} malformed messages", Outcome.PROTOCOL_VIOLATION)

    async def _wait_for_start(self) -> wire.Start:
        while True:
            event = await self._next_event()
            if isinstance(event, wire.Start):
                return event
            if isinstance(event, wire.Stop):
                raise _CallOver("stream stopped before it started")
            if not isinstance(event, wire.Connected):
                self.stats.ignored_frames += 1

    async def _converse(self) -> tuple[Outcome, str]:
        assert self.start is not None
        outbound = self.start.custom_parameters.get("direction") == "outbound"
        greeting = self._options.outbound_greeting if outbound else self._options.greeting
        if greeting:
            await self.link.send_text(greeting)  # sent once connected
        result = Outcome.COMPLETED, "ended"
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._caller_pump(), name=CALLER_PUMP)
                group.create_task(self._agent_pump(), name=AGENT_PUMP)
                group.create_task(self._watchdog(), name=WATCHDOG)
        except* _CallOver as over:
            first = over.exceptions[0]
            assert isinstance(first, _CallOver)
            result = first.outcome, first.reason
        except* SocketClosed:
            result = Outcome.COMPLETED, "media socket closed while sending"
        except* AgentSessionError as failure:
            raise failure.exceptions[0] from None
        finally:
            await self.tools.aclose()
        return result

    # caller → agent

    async def _caller_pump(self) -> None:
        while True:
            event = await self._next_event()
            if isinstance(event, wire.Media):
                wrong = event.stream_sid != self.stream_sid or event.track not in INBOUND_TRACKS
                if wrong or not event.payload:
                    self.stats.ignored_frames += 1
                    continue
                self.stats.frames_in += 1
                self.stats.caller_audio_ms += len(event.payload) / ULAW_BYTES_PER_MS
                pcm = self._inbound.convert(event.payload)
                if self._recording is not None:
                    self._recording.caller(event.payload)
                if self._onset is not None:
                    await self._watch_for_onset(event.payload)
                if is_speech(pcm):
                    self._last_speech = self._caller_spoke_at = time.monotonic()
                    self._idle_prompted = False
                await self.link.send_audio(pcm)
            elif isinstance(event, wire.Mark):
                self.ledger.mark_received(event.name)
                if self._playing_turns:
                    self._settle_heard(call_over=False)
            elif isinstance(event, wire.Stop):
                raise _CallOver("caller hung up")
            elif isinstance(event, wire.Dtmf):
                await self._on_dtmf(event.digit)
            else:
                self.stats.ignored_frames += 1

    # agent → caller

    async def _agent_pump(self) -> None:
        async for event in self.link.events():
            await self._on_agent_event(event)

    async def _on_agent_event(self, event: AgentEvent | SessionSwitched) -> None:
        if isinstance(event, AgentAudio):
            await self._play(event.pcm)
        elif isinstance(event, Interrupted):
            await self._interrupt()
        elif isinstance(event, TurnComplete):
            await self._end_turn()
        elif isinstance(event, Transcript):
            (self._caller_text if event.speaker == "caller" else self._agent_text).append(
                event.text
            )
            if self._options.live_transcripts:
                await self._socket.send(
                    wire.transcript_message(self.stream_sid, event.speaker, event.text)
                )
        elif isinstance(event, SessionSwitched):
            self._observer.session_switched(event.reason)
            if self._speaking:
                # The reply was cut by the loss; what was sent still plays. End the turn
                # so the next reply starts clean and the ledger stays per turn.
                self.log.info("agent turn %d cut short by the session loss", self._turn)
                await self._end_turn()
                self._turns_done -= 1  # not a turn the model completed
            self.log.info(
                "on a new session (%s) after %.0f ms and %d attempt(s); resumed with %s",
                event.reason,
                event.gap_ms,
                event.attempts,
                "the latest handle" if event.handle else "no handle (fresh context)",
            )
        elif isinstance(event, ToolCall):
            self.tools.start(event)
        elif isinstance(event, ToolCallCancelled):
            self.tools.cancel(event.call_ids)
        elif isinstance(event, (ResumptionHandle, GoAway)):
            pass  # the link acts on these
        elif isinstance(event, Usage):
            self._observer.tokens(event.total_tokens)
            self.stats.tokens += event.total_tokens

    async def _send_ulaw(self, ulaw: bytes) -> None:
        if not ulaw:
            return
        duration_ms = len(ulaw) / ULAW_BYTES_PER_MS
        self.stats.agent_audio_ms += duration_ms
        if self._onset is not None:
            pcm = np.frombuffer(ulaw_to_pcm16(ulaw), dtype="<i2")
            self._turn_peak_dbfs = max(self._turn_peak_dbfs, level_dbfs(pcm))
        await self._socket.send(wire.media_message(self.stream_sid, ulaw))
        if self._recording is not None:
            self._recording.agent(ulaw)
        mark = self.ledger.audio_sent(self._turn, duration_ms)
        await self._socket.send(wire.mark_message(self.stream_sid, mark))

    async def _watch_for_onset(self, ulaw: bytes) -> None:
        assert self._onset is not None
        audible = self._agent_audible() and not self._muted
        caller = np.frombuffer(ulaw_to_pcm16(ulaw), dtype="<i2").astype(np.float64)
        echo_level = self._turn_peak_dbfs if audible else None
        if self._onset.feed(caller, echo_level) and audible:
            await self._local_barge_in()

    async def _local_barge_in(self) -> None:
        """The caller started talking over the agent: stop playback now."""
        await self._socket.send(wire.clear_message(self.stream_sid))
        self._outbound.reset()
        self._muted = True
        if self._recording is not None:
            self._recording.clear()
        self.stats.fast_barge_ins += 1
        playback = self.ledger.cleared(self._turn)
        self.log.info(
            "fast barge-in: caller speech detected; playback of turn %d stopped after %.0f ms",
            self._turn,
            playback.heard_ms if playback else 0,
        )

    async def _play(self, pcm24k: bytes) -> None:
        if self._muted:
            return  # the caller took the floor; the rest of this reply is dropped
        if not self._speaking:
            if self._caller_spoke_at is not None:
                self._observer.turn_latency(time.monotonic() - self._caller_spoke_at)
                self._caller_spoke_at = None
            self._speaking = True
            self._turn += 1
            self.stats.agent_turns += 1
            self._log_caller_text()
        await self._send_ulaw(self._outbound.convert(pcm24k))

    async def _interrupt(self) -> None:
        if self._muted:  # already cleared locally; nothing was sent since
            self._muted = False
            self._speaking = False
            self.stats.interruptions += 1
            return
        # clear first: every ms spent before it is heard by the caller
        received = time.monotonic()
        await self._socket.send(wire.clear_message(self.stream_sid))
        self._observer.interrupt_to_clear(time.monotonic() - received)
        if self._recording is not None:
            self._recording.clear()
        self._outbound.reset()
        self._speaking = False
        playback = self.ledger.cleared(self._turn)
        self.stats.interruptions += 1
        if playback is not None:
            text = "".join(self._agent_text).strip()
            self.log.info(
                "agent turn %d interrupted: caller heard %.0f of %.0f ms sent: %r",
                playback.turn,
                playback.heard_ms,
                playback.sent_ms,
                text,
            )
            self._record_agent_turn(text, interrupted=True)

    async def _end_turn(self) -> None:
        self._turns_done += 1
        self._muted = False
        self._turn_peak_dbfs = -120.0
        if self._speaking:
            await self._send_ulaw(self._outbound.flush())
            self._speaking = False
        if self._options.live_transcripts:
            await self._socket.send(wire.turn_complete_message(self.stream_sid))
        self._log_caller_text()
        text = "".join(self._agent_text).strip()
        if text:
            playback = self.ledger.turn(self._turn)
            self.log.info("agent turn %d (%.0f ms): %r", self._turn, playback.sent_ms, text)
            self._record_agent_turn(text, interrupted=False)

    # call limits

    async def _watchdog(self) -> None:
        """Ends over-long and silent calls politely: a goodbye the caller hears, then hang up."""
        options = self._options
        while True:
            await asyncio.sleep(WATCH_INTERVAL_S)
            now = time.monotonic()
            silent = now - self._admitted_at >= options.first_audio_timeout_s
            if not self.stats.frames_in and silent:
                raise _CallOver(
                    f"no audio within {options.first_audio_timeout_s:g} s of the start",
                    Outcome.PROTOCOL_VIOLATION,
                )
            if self._ending is not None:
                if self._goodbye_heard() or now >= self._ending_deadline:
                    await self._leave()
            elif options.max_call_s and now - self._began >= options.max_call_s:
                await self._say_goodbye("call time limit reached")
            elif options.idle_timeout_s and self._agent_audible():
                self._last_speech = now  # silence while the bot talks is not idleness
            elif options.idle_timeout_s and now - self._last_speech >= options.idle_timeout_s:
                if self._idle_prompted:
                    await self._say_goodbye("caller silent")
                else:
                    self.log.info(
                        "caller silent for %.0f s: asking if they are still there",
                        options.idle_timeout_s,
                    )
                    self._idle_prompted = True
                    self._last_speech = now
                    await self.link.send_text(options.idle_instruction)

    async def operator_say(self, instruction: str) -> None:
        """An operator's instruction, sent into the live session now."""
        self.log.info("operator instruction: %r", instruction)
        await self.link.send_text(instruction)

    async def operator_transfer(self, target: str) -> str | None:
        """Transfer as the built-in tool does; returns an error message, or None."""
        answer = await self._transfer_tool({"target": target})
        if "error" in answer:
            return str(answer["error"]["message"])
        await self.link.send_text(str(answer["result"]))
        return None

    @property
    def ending(self) -> bool:
        return self._ending is not None

    async def end_politely(self, reason: str) -> None:
        """Have the agent say goodbye, then end the call once it was heard (or times out)."""
        if self._ending is None and self.start is not None:
            await self._say_goodbye(reason)

    async def _say_goodbye(self, reason: str) -> None:
        self.log.info("ending the call (%s): asking the agent to say goodbye", reason)
        self._begin_ending(reason)
        await self.link.send_text(self._options.goodbye_instruction)

    def _begin_ending(self, reason: str) -> None:
        self._ending = reason
        self._ending_deadline = time.monotonic() + self._options.goodbye_grace_s
        self._turns_done_at_ending = self._turns_done

    async def _leave(self) -> None:
        """The last words were heard: transfer, or hang up (close the stream)."""
        assert self._ending is not None
        if self._transfer_to is not None:
            name, number = self._transfer_to
            if self._options.on_transfer is not None:
                self._options.on_transfer(self.call_sid, number)
            if self._control is not None:
                try:
                    await self._control.redirect(self.call_sid, transfer_twiml(number))
                    self.log.info("transferred to %s (%s) through Twilio's REST API", name, number)
                except CallControlError as error:
                    self.log.error("%s; dialling %s when the stream closes instead", error, name)
        raise _CallOver(self._ending)

    # built-in tools

    async def _end_call_tool(self, args: dict[str, Any]) -> dict[str, Any]:
        reason = str(args.get("reason") or "the agent ended the call")
        if self._ending is None:
            self._begin_ending(f"end_call: {reason}")
        return {
            "result": "The call ends once your goodbye has been heard."
            " Say a short goodbye now if you have not yet."
        }

    async def _transfer_tool(self, args: dict[str, Any]) -> dict[str, Any]:
        name = str(args.get("target", ""))
        number = self._options.transfer_targets.get(name)
        if number is None:
            known = ", ".join(self._options.transfer_targets)
            return {"error": {"type": "unknown_target", "message": f"choose one of: {known}"}}
        self._transfer_to = (name, number)
        if self._ending is None:
            self._begin_ending(f"transfer to {name}")
        self.log.info("transfer to %s requested; connecting after the notice is heard", name)
        return {
            "result": f"Tell the caller in one short sentence that you are connecting them"
            f" to {name} now."
        }

    async def _on_dtmf(self, digit: str) -> None:
        if len(digit) != 1 or digit not in "0123456789*#ABCD":
            self.stats.ignored_frames += 1
            return
        self.log.info("caller pressed %s", digit)
        if self._options.forward_dtmf:
            await self.link.send_text(f"The caller pressed {digit} on their phone's keypad.")

    def _agent_audible(self) -> bool:
        """The agent is replying, or audio it sent is still playing to the caller."""
        playback = self.ledger.turns.get(self._turn)
        if self._speaking and not self._muted:
            return True
        # A cleared turn is silent at once, however much of it was never heard.
        return (
            playback is not None
            and not playback.interrupted
            and (playback.heard_ms < playback.sent_ms)
        )

    def _goodbye_heard(self) -> bool:
        """The model completed a turn since the ending began, and the caller heard it all."""
        if self._turns_done <= self._turns_done_at_ending or self._speaking:
            return False
        return not self._agent_audible()

    def _log_caller_text(self) -> None:
        text = "".join(self._caller_text).strip()
        self._caller_text.clear()
        if text:
            self.log.info("caller said: %r", text)
            self._keep_turn({"speaker": "caller", "text": text})

    def _record_agent_turn(self, text: str, *, interrupted: bool) -> None:
        self._agent_text.clear()
        playback = self.ledger.turn(self._turn)
        entry = {
            "speaker": "agent",
            "turn": self._turn,
            "text": text,
            "interrupted": interrupted,
            "sent_ms": playback.sent_ms,
            "heard_ms": playback.heard_ms,
        }
        self._keep_turn(entry)
        if not interrupted and playback.heard_ms < playback.sent_ms:
            self._playing_turns.append(entry)  # a cleared turn's heard_ms is final

    def _settle_heard(self, *, call_over: bool) -> None:
        """Update turns recorded while still playing, once played (or at the end, as far
        as they got: a caller who hangs up mid-reply heard only part of it)."""
        still_playing = []
        for entry in self._playing_turns:
            playback = self.ledger.turn(entry["turn"])
            done = playback.interrupted or playback.heard_ms >= playback.sent_ms
            if not (done or call_over):
                still_playing.append(entry)
                continue
            entry["heard_ms"] = playback.heard_ms
            if self._recorder is not None:
                self._recorder.turn_heard(self.call_sid, entry)
        self._playing_turns = still_playing

    def _keep_turn(self, entry: dict[str, Any]) -> None:
        entry["seq"] = len(self._transcript) + 1
        self._transcript.append(entry)
        if self._recorder is not None:
            self._recorder.turn(self.call_sid, entry)
