# edge: the call's asyncio driver
"""The call's driver: Twilio's media socket ⇄ one live agent session, pumped through
the call's pure core (:class:`~app.call.core.CallCore`).

A :class:`CallBridge` runs one call in a task group: the caller pump (socket frames
into the core), the agent pump (agent events into the core, once the call is
admitted), a ticker (the clock into the core) and the mailbox (the call's one door:
controls from an operator, another process, shutdown or the agent's built-in tools,
see :mod:`app.call.controls`). It performs what the core asks, in order: frames to
the caller, audio and text to the agent, tool calls, a transfer, reports to the
call's sinks, the hang-up. It decides nothing itself, and depends only on the
interfaces in :mod:`app.call.ports`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from app.agent.events import ToolCall
from app.agent.link import AgentLink
from app.agent.link_state import LinkPolicy
from app.call.actions import (
    REPORTS,
    Action,
    Admit,
    CancelTools,
    Hangup,
    Log,
    Measure,
    Measured,
    RenewSession,
    SendAudio,
    SendText,
    StartTool,
    ToCaller,
    Transfer,
)
from app.call.controls import ENDED, Control, EndCallTool, Reply, ToolAnswered, TransferTool
from app.call.core import CallCore, CoreOptions, Phase
from app.call.ledger import PlaybackLedger
from app.call.outcome import APOLOGY_OUTCOMES, CLOSE_CODES, Outcome, close_reason
from app.call.ports import AgentConnector, CallControl, MediaSocket
from app.call.record import CallStats, CallSummary
from app.call.sinks import CallSinks
from app.errors import AgentSessionError, CallControlError, RegistryUnavailable, SocketClosed
from app.telephony import wire
from app.telephony.twiml import transfer_twiml
from app.tools import END_CALL, TRANSFER_CALL, Tool
from app.tools.calls import Builtin, ToolCalls

log = logging.getLogger(__name__)

CALLER_PUMP = "call: caller→agent"
AGENT_PUMP = "call: agent→caller"
WATCHDOG = "call: watchdog"
MAILBOX = "call: mailbox"
CALL_TASKS = frozenset({CALLER_PUMP, AGENT_PUMP, WATCHDOG, MAILBOX})


@dataclass(frozen=True)
class BridgeOptions:
    core: CoreOptions = field(default_factory=CoreOptions)
    link: LinkPolicy = field(default_factory=LinkPolicy)
    # Checked on `start`, before any session opens: a reason to refuse, or None.
    admit: Callable[[wire.Start], Awaitable[str | None]] | None = None
    tools: tuple[Tool, ...] = ()  # what the session declares, built-ins included
    tool_timeout_s: float = 10.0
    # Told about a transfer (the CallSid, the number; None once Twilio's REST API has
    # connected it), so the <Connect action> dials it if the stream closes first.
    on_transfer: Callable[[str, str | None], Awaitable[None]] | None = None
    # Told the call's outcome before its stream closes (and Twilio asks the <Connect action>).
    on_ending: Callable[[CallSummary], Awaitable[None]] | None = None
    tick_s: float = 0.1  # how often the core is told the time


class CallOver(Exception):
    def __init__(self, outcome: Outcome, reason: str) -> None:
        super().__init__(reason)
        self.outcome = outcome
        self.reason = reason


@dataclass(frozen=True)
class Letter:
    """A control in the mailbox, and where its reply goes."""

    control: Control
    reply: asyncio.Future[Reply]


class CallLog(logging.LoggerAdapter):  # type: ignore[type-arg]
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
        sinks: CallSinks | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._socket = socket
        self._options = options
        self._control = control
        self._clock = clock
        self._log_ids = {"call_sid": "-", "stream_sid": "-"}
        self.log = CallLog(log, self._log_ids)
        self.core = CallCore(options.core, clock())
        self.link = AgentLink(connector, options.link, self.log)
        self._sinks = sinks if sinks is not None else CallSinks([], self.log)
        builtins: dict[str, Builtin] = {END_CALL: self._end_call_tool}
        if options.core.transfer_targets:
            builtins[TRANSFER_CALL] = self._transfer_tool
        declared = {t.name for t in options.tools}
        self.tools = ToolCalls(
            {t.name: t for t in options.tools},
            {name: fn for name, fn in builtins.items() if name in declared},
            self._tool_answered,
            options.tool_timeout_s,
            self.log,
        )
        self._group: asyncio.TaskGroup | None = None
        self._agent_event_at = 0.0
        self._mailbox: asyncio.Queue[Letter] = asyncio.Queue()
        self._closed = False  # the call is over: the mailbox takes nothing more

    def attach(self, sinks: CallSinks) -> None:
        """Where this call's reports go (built for the call's log, so made after it)."""
        self._sinks = sinks

    @property
    def call_sid(self) -> str:
        return self.core.call_sid

    @property
    def stream_sid(self) -> str:
        return self.core.stream_sid

    @property
    def start(self) -> wire.Start | None:
        return self.core.start

    @property
    def stats(self) -> CallStats:
        return self.core.stats

    @property
    def ledger(self) -> PlaybackLedger:
        return self.core.playback.ledger

    @property
    def ending(self) -> bool:
        return self.core.ending.ending

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
            async with asyncio.TaskGroup() as group:
                self._group = group
                group.create_task(self._caller_pump(), name=CALLER_PUMP)
                group.create_task(self._ticker(), name=WATCHDOG)
                group.create_task(self._mailbox_pump(), name=MAILBOX)
        except BaseExceptionGroup as group:
            known, unknown = group.split((AgentSessionError, SocketClosed, CallOver))
            if unknown is not None or known is None:
                raise  # a fault: the boundary in run() ends the call with the apology
            # A failed session outranks a closed socket, which outranks a hang-up.
            failure = _first(known, AgentSessionError)
            if isinstance(failure, AgentSessionError):
                return Outcome.AGENT_FAILED, failure.reason
            if _first(known, SocketClosed) is not None:
                return Outcome.COMPLETED, "media socket closed while sending"
            over = _first(known, CallOver)
            assert isinstance(over, CallOver)
            return over.outcome, over.reason
        finally:
            await self.tools.aclose()
        return Outcome.COMPLETED, "ended"

    async def _caller_pump(self) -> None:
        while True:
            try:
                frame = await self._socket.receive()
            except SocketClosed as closed:
                hangup = self.core.socket_closed(closed.code)
                raise CallOver(hangup.outcome, hangup.reason) from None
            await self._perform_all(self.core.receive(frame, self._clock()))

    async def _agent_pump(self) -> None:
        async for event in self.link.events():
            self._agent_event_at = self._clock()
            await self._perform_all(self.core.agent(event, self._agent_event_at))

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(self._options.tick_s)
            await self._perform_all(self.core.tick(self._clock()))

    async def _mailbox_pump(self) -> None:
        while True:
            letter = await self._mailbox.get()
            reply, actions = self.core.control(letter.control, self._clock())
            try:
                await self._perform_all(actions)
            finally:  # answered even when an action ended the call
                if not letter.reply.done():
                    letter.reply.set_result(reply)

    async def deliver(self, control: Control) -> Reply:
        """The call's one door: ``control`` is handled on the call's own task, like a frame,
        and its reply returned; :data:`~app.call.controls.ENDED` once the call is over."""
        if self._closed:
            return ENDED
        letter = Letter(control, asyncio.get_running_loop().create_future())
        self._mailbox.put_nowait(letter)
        return await letter.reply

    async def _perform_all(self, actions: list[Action]) -> None:
        for action in actions:
            await self._perform(action)

    async def _perform(self, action: Action) -> None:
        if isinstance(action, ToCaller):
            await self._socket.send(action.text)
            if action.answers_interrupt:
                since = self._clock() - self._agent_event_at
                self._sinks.report(Measured(Measure.INTERRUPT_TO_CLEAR, since))
        elif isinstance(action, SendAudio):
            await self.link.send_audio(action.pcm16k)
        elif isinstance(action, REPORTS):
            self._sinks.report(action)
        elif isinstance(action, SendText):
            await self.link.send_text(action.text)
        elif isinstance(action, Log):
            self.log.log(action.level, action.message, *action.args)
        elif isinstance(action, RenewSession):
            self.link.renew(action.history, resume=action.resume)
        elif isinstance(action, Admit):
            await self._admit(action.start)
        elif isinstance(action, StartTool):
            self.tools.start(action.call)
        elif isinstance(action, CancelTools):
            self.tools.cancel(action.call_ids)
        elif isinstance(action, Transfer):
            await self._transfer(action)
        elif isinstance(action, Hangup):
            raise CallOver(action.outcome, action.reason)

    async def _tool_answered(
        self, call: ToolCall, response: dict[str, Any], scheduling: str | None
    ) -> bool:
        """Send a tool's answer, and tell the core (through the call's one door) that the
        call waits for it no more."""
        try:
            return await self.link.send_tool_response(call, response, scheduling)
        finally:
            await self.deliver(ToolAnswered(call.key))

    async def _admit(self, start: wire.Start) -> None:
        # Updated in place: the link and everything else holding this adapter follow.
        self._log_ids.update(call_sid=start.call_sid, stream_sid=start.stream_sid)
        refusal = await self._options.admit(start) if self._options.admit else None
        await self._perform_all(self.core.admission(refusal, self._clock()))
        if self.core.phase is Phase.IN_CALL and self._group is not None:
            self._group.create_task(self._agent_pump(), name=AGENT_PUMP)

    async def _transfer(self, transfer: Transfer) -> None:
        """The notice was heard: dial the target through Twilio's REST API; until that
        succeeds the <Connect action> is told to dial it when the stream closes."""
        await self._remember_transfer(transfer.number)
        if self._control is None:
            return
        try:
            await self._control.redirect(self.call_sid, transfer_twiml(transfer.number))
        except CallControlError as error:
            self.log.error("%s; dialling %s when the stream closes instead", error, transfer.name)
            return
        self.log.info(
            "transferred to %s (%s) through Twilio's REST API", transfer.name, transfer.number
        )
        await self._remember_transfer(None)  # connected: the <Connect action> must not dial it

    async def _remember_transfer(self, number: str | None) -> None:
        if self._options.on_transfer is None:
            return
        try:
            await self._options.on_transfer(self.call_sid, number)
        except RegistryUnavailable as error:
            self.log.error("the registry did not learn of the transfer: %s", error)

    async def _finish(self, outcome: Outcome, reason: str) -> CallSummary:
        self._closed = True
        while not self._mailbox.empty():  # controls that came too late
            letter = self._mailbox.get_nowait()
            if not letter.reply.done():
                letter.reply.set_result(ENDED)
        tool_calls = self.tools.completed + self.tools.failed
        summary, reports = self.core.finish(
            outcome, reason, self._clock(), self.link.stats, tool_calls
        )
        for report in reports:
            self._sinks.report(report)  # type: ignore[arg-type]
        await self._sinks.close()  # records and recordings settled before the socket closes
        stats, link = self.core.stats, self.link.stats
        self.log.log(
            logging.ERROR if outcome in APOLOGY_OUTCOMES else logging.INFO,
            "call ended: %s (%s); %.1f s, %d agent turns, %d interruptions, %d malformed frames,"
            " %d goAway switches, %d reconnects, %.0f ms caller audio dropped",
            outcome.value,
            reason,
            summary.duration_s,
            stats.agent_turns,
            stats.interruptions,
            stats.malformed_frames,
            link.switches,
            link.reconnects,
            link.dropped_ms,
        )
        if self._options.on_ending is not None:
            try:
                await self._options.on_ending(summary)
            except RegistryUnavailable as error:  # the call still ends, and says so
                self.log.error("the registry did not learn how the call ended: %s", error)
        # Always close with a code (a no-op if the peer is gone); closing is also what
        # makes Twilio request the <Connect action>, which plays the apology if needed.
        await self._socket.close(CLOSE_CODES[outcome], close_reason(outcome, reason))
        return summary

    # the agent's built-in tools, through the same door as every other control

    async def _end_call_tool(self, args: dict[str, Any]) -> dict[str, Any]:
        return await self._builtin(EndCallTool(args))

    async def _transfer_tool(self, args: dict[str, Any]) -> dict[str, Any]:
        return await self._builtin(TransferTool(args))

    async def _builtin(self, control: Control) -> dict[str, Any]:
        reply = await self.deliver(control)
        if reply.answer:
            return dict(reply.answer)
        return {"error": {"type": "call_ended", "message": reply.problem}}


def _first(
    group: BaseExceptionGroup[BaseException], kind: type[BaseException]
) -> BaseException | None:
    """The first exception of ``kind`` in a (nested) exception group."""
    for error in group.exceptions:
        found = _first(error, kind) if isinstance(error, BaseExceptionGroup) else error
        if isinstance(found, kind):
            return found
    return None
