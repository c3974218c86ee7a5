"""The calls this process runs, and its dealings with the registry about them.

:class:`LocalCalls` is the process-local half of what the switchboard used to be:
which calls run here (each a :class:`~app.call.bridge.CallBridge` with its mailbox),
the recent summaries and counters ``/healthz`` shows, and draining on shutdown. What
the processes of a deployment share (stream tokens, capacity, who holds which call,
what the ``<Connect action>`` answers) is the :class:`~app.registry.base.CallRegistry`'s.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from app.call.bridge import CallBridge
from app.call.controls import Control, EndCall, Reply
from app.call.outcome import APOLOGY_OUTCOMES
from app.call.record import CallSummary
from app.errors import CallRefused, RegistryUnavailable
from app.registry.base import ENDED, IN_PROGRESS, Apologise, CallRegistry
from app.telephony import wire
from app.telephony.stream_tokens import SEAL_PARAMETER, seal, seal_matches

log = logging.getLogger(__name__)

STREAM_TOKEN_PARAMETER = "streamToken"
UNSEALED = "the stream's caller, called or direction are not what the webhook gave"
SHUTTING_DOWN = "server shutting down"


@dataclass
class LocalCalls:
    registry: CallRegistry
    # The secrets that seal the parameters a stream must come back with, at a time (the
    # stream tokens' own: the current one, which seals, first).
    keys: Callable[[float], tuple[bytes, ...]]
    # Has this CallSid had a stream before? (The call records: a memory that outlives
    # the process, so a signed webhook replayed after its call ended starts nothing.)
    known: Callable[[str], Awaitable[bool]] | None = None
    active: dict[int, CallBridge] = field(default_factory=dict)
    recent: deque[CallSummary] = field(default_factory=lambda: deque(maxlen=100))
    completed: int = 0
    refused: int = 0
    draining: bool = False
    _idle: asyncio.Event = field(default_factory=asyncio.Event)

    # a call about to connect, and its stream's start

    async def offer(self, call_sid: str, vouched: Mapping[str, str]) -> dict[str, str]:
        """The parameters the call's stream must come back with: ``vouched`` (the caller,
        called and direction the webhook's signed form gave), a one-use stream token,
        and a seal over them; or :class:`CallRefused` (counted)."""
        token = await self._token(call_sid)
        parameters = {"callSid": call_sid, **vouched, STREAM_TOKEN_PARAMETER: token}
        secret = self.keys(time.time())[0]
        return {**parameters, SEAL_PARAMETER: seal(secret, call_sid, parameters)}

    async def _token(self, call_sid: str) -> str:
        try:
            if self.draining:
                raise CallRefused("shutting down")
            if self.known is not None and await self.known(call_sid):
                held = await self.registry.locate(call_sid) is not None
                raise CallRefused(IN_PROGRESS if held else ENDED, replayed=True)
            return await self.registry.offer(call_sid)
        except RegistryUnavailable as down:  # the shared registry: no fleet-wide answer
            self.refused += 1
            raise CallRefused(str(down)) from None
        except CallRefused:
            self.refused += 1
            raise

    async def admit(self, start: wire.Start) -> str | None:
        """Checked on a stream's ``start``, before a Gemini session: a refusal, or None."""
        if self.draining:
            refusal: str | None = "no capacity"
        elif not seal_matches(self.keys(time.time()), start.call_sid, start.custom_parameters):
            refusal = UNSEALED
        else:
            token = start.custom_parameters.get(STREAM_TOKEN_PARAMETER, "")
            refusal = await self.registry.admit(start.call_sid, token)
        if refusal is not None:
            self.refused += 1
        return refusal

    # calls running here

    def started(self, bridge: CallBridge) -> None:
        self.active[id(bridge)] = bridge
        self._idle.clear()

    def gone(self, bridge: CallBridge) -> None:
        self.active.pop(id(bridge), None)
        if not self.active:
            self._idle.set()

    async def ending(self, summary: CallSummary) -> None:
        """A call's outcome is settled and its stream is about to close: the registry
        learns what the ``<Connect action>`` must answer before Twilio can ask."""
        if not summary.call_sid:
            return
        failed = summary.outcome in APOLOGY_OUTCOMES
        await self.registry.release(summary.call_sid, Apologise(summary.reason) if failed else None)

    def finished(self, summary: CallSummary) -> None:
        """A call's bridge has run to its end (after :meth:`gone`)."""
        self.completed += 1
        self.recent.append(summary)

    def find(self, call_sid: str) -> CallBridge | None:
        """The call in progress on this process with that CallSid, if any."""
        return next((b for b in self.active.values() if b.call_sid == call_sid), None)

    async def deliver(self, call_sid: str, control: Control) -> Reply | None:
        """Hand ``control`` to the call if it runs here (the registry's way in)."""
        bridge = self.find(call_sid)
        return None if bridge is None else await bridge.deliver(control)

    def health(self) -> dict[str, object]:
        return {
            "status": "draining" if self.draining else "ok",
            "active_calls": len(self.active),
            "calls_handled": self.completed,
            "calls_refused": self.refused,
        }

    async def drain(self, timeout_s: float) -> None:
        """Refuse new calls; let calls in progress say goodbye and end, within the timeout."""
        self.draining = True
        calls = list(self.active.values())
        log.warning(
            "shutting down: ending %d call(s) politely (up to %.0f s)", len(calls), timeout_s
        )
        try:
            async with asyncio.timeout(timeout_s):
                # Through each call's own door, all at once: none waits for another.
                await asyncio.gather(*(b.deliver(EndCall(SHUTTING_DOWN)) for b in calls))
                if self.active:
                    await self._idle.wait()
        except TimeoutError:
            log.warning("drain timeout: %d call(s) still in progress are cut", len(self.active))
