"""This process's calls: capacity, stream tokens, outcomes, and draining on shutdown."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field

from app import twilio_wire as wire
from app.bridge import CallBridge, CallSummary, Outcome
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

    def issue_token(self, call_sid: str) -> str:
        return self.tokens.issue(call_sid, time.time())

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

    def finished(self, bridge: CallBridge, summary: CallSummary) -> None:
        self.gone(bridge)
        self.completed += 1
        self.recent.append(summary)
        if summary.outcome is Outcome.AGENT_FAILED and summary.call_sid:
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
