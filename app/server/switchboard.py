"""This process's calls: capacity, stream tokens, outcomes, and draining on shutdown."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field

from app import twilio_wire as wire
from app.bridge import APOLOGY_OUTCOMES, CallBridge, CallSummary
from app.stream_token import StreamTokens, TokenRejected

log = logging.getLogger(__name__)

STREAM_TOKEN_PARAMETER = "streamToken"


@dataclass
class Switchboard:
    tokens: StreamTokens
    max_calls: int
    active: dict[int, CallBridge] = field(default_factory=dict)
    failed: OrderedDict[str, str] = field(default_factory=OrderedDict)
    transfers: dict[str, str] = field(default_factory=dict)  # CallSid -> number to dial
    recent: deque[CallSummary] = field(default_factory=lambda: deque(maxlen=100))
    completed: int = 0
    refused: int = 0
    draining: bool = False
    failed_limit: int = 10_000
    _idle: asyncio.Event = field(default_factory=asyncio.Event)

    def has_room(self) -> bool:
        """May the webhook accept another call? (Counts calls about to connect too.)"""
        pending = self.tokens.outstanding(time.time())
        return not self.draining and len(self.active) + pending < self.max_calls

    def offer(self, call_sid: str) -> str | None:
        """A stream token for a call about to connect, or None (counted as refused) when
        there is no room or the server is shutting down."""
        if not self.has_room():
            self.refused += 1
            return None
        return self.tokens.issue(call_sid, time.time())

    def busy_reason(self) -> str:
        return "shutting down" if self.draining else f"{len(self.active)} calls in progress"

    def after_stream(self, call_sid: str) -> tuple[str, str] | None:
        """What the <Connect action> should do once a call's stream has closed:
        ("dial", number) for a transfer, ("apologise", reason) after a failure, or None."""
        number = self.transfers.pop(call_sid, None)
        if number is not None:
            return "dial", number
        reason = self.failed.pop(call_sid, None)
        if reason is not None:
            return "apologise", reason
        return None

    def health(self) -> dict[str, object]:
        return {
            "status": "draining" if self.draining else "ok",
            "active_calls": len(self.active),
            "max_concurrent_calls": self.max_calls,
            "calls_handled": self.completed,
            "calls_refused": self.refused,
        }

    def admit(self, start: wire.Start) -> str | None:
        """Checked on a stream's `start`, before a Gemini session: a refusal, or None."""
        token = start.custom_parameters.get(STREAM_TOKEN_PARAMETER, "")
        try:
            self.tokens.redeem(token, start.call_sid, time.time())
        except TokenRejected as rejected:
            self.refused += 1
            return rejected.reason
        if self.draining or len(self.active) > self.max_calls:
            self.refused += 1
            return "no capacity"
        return None

    def find(self, call_sid: str) -> CallBridge | None:
        """The call in progress on this process with that CallSid, if any."""
        return next((b for b in self.active.values() if b.call_sid == call_sid), None)

    def transfer(self, call_sid: str, number: str) -> None:
        """Remember a transfer, so the <Connect action> dials it when the stream closes."""
        self.transfers[call_sid] = number

    def started(self, bridge: CallBridge) -> None:
        self.active[id(bridge)] = bridge
        self._idle.clear()

    def gone(self, bridge: CallBridge) -> None:
        self.active.pop(id(bridge), None)
        if not self.active:
            self._idle.set()

    def finished(self, summary: CallSummary) -> None:
        """A call's bridge has run to its end (after :meth:`gone`)."""
        self.completed += 1
        self.recent.append(summary)
        if summary.outcome in APOLOGY_OUTCOMES and summary.call_sid:
            self.failed[summary.call_sid] = summary.reason
            while len(self.failed) > self.failed_limit:
                self.failed.popitem(last=False)

    async def drain(self, timeout_s: float) -> None:
        """Refuse new calls; let calls in progress say goodbye and end, within the timeout."""
        self.draining = True
        calls = list(self.active.values())
        log.warning(
            "shutting down: ending %d call(s) politely (up to %.0f s)", len(calls), timeout_s
        )
        for bridge in calls:
            await bridge.end_politely("server shutting down")
        if not self.active:
            return
        try:
            async with asyncio.timeout(timeout_s):
                await self._idle.wait()
        except TimeoutError:
            log.warning("drain timeout: %d call(s) still in progress are cut", len(self.active))
