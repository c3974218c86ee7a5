"""This process's calls: capacity, stream tokens, outcomes, and draining on shutdown."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field

from app.call.bridge import CallBridge
from app.call.outcome import APOLOGY_OUTCOMES
from app.call.record import CallSummary
from app.errors import CallRefused, TokenRejected
from app.telephony import wire
from app.telephony.sids import is_softphone
from app.telephony.stream_tokens import StreamTokens

log = logging.getLogger(__name__)

STREAM_TOKEN_PARAMETER = "streamToken"


@dataclass
class Switchboard:
    """Phone calls and softphone calls have budgets of their own (``max_calls`` and
    ``max_softphone_calls``), so an open development softphone cannot fill the lines
    phone callers need. A budget counts calls in progress and calls whose stream
    token was issued but not yet used, one per CallSid."""

    tokens: StreamTokens
    max_calls: int
    max_softphone_calls: int = 3
    active: dict[int, CallBridge] = field(default_factory=dict)
    failed: OrderedDict[str, str] = field(default_factory=OrderedDict)
    transfers: dict[str, str] = field(default_factory=dict)  # CallSid -> number to dial
    recent: deque[CallSummary] = field(default_factory=lambda: deque(maxlen=100))
    completed: int = 0
    refused: int = 0
    draining: bool = False
    failed_limit: int = 10_000
    _idle: asyncio.Event = field(default_factory=asyncio.Event)

    def _budget(self, call_sid: str) -> tuple[bool, int]:
        softphone = is_softphone(call_sid)
        return softphone, self.max_softphone_calls if softphone else self.max_calls

    def _load(self, softphone: bool, *, besides: str = "") -> int:
        """Calls of one budget in progress or about to connect (``besides`` left out)."""
        calls = {b.call_sid for b in self.active.values() if b.call_sid}
        calls |= self.tokens.pending(time.time())
        return sum(1 for sid in calls - {besides} if is_softphone(sid) == softphone)

    def has_room(self, call_sid: str = "CA") -> bool:
        """May another call of ``call_sid``'s kind connect? (Counts calls about to connect.)"""
        softphone, limit = self._budget(call_sid)
        return not self.draining and self._load(softphone, besides=call_sid) < limit

    def offer(self, call_sid: str) -> str:
        """A stream token for a call about to connect, superseding any earlier one for the
        same CallSid; or :class:`CallRefused` (counted) for no room, shutting down, or a
        CallSid whose call is already in progress (a replayed webhook)."""
        if self.find(call_sid) is not None:
            self.refused += 1
            raise CallRefused("that call is already in progress here (a replayed webhook?)")
        if not self.has_room(call_sid):
            self.refused += 1
            raise CallRefused(self.busy_reason())
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
        softphone, limit = self._budget(start.call_sid)
        if self.draining or self._load(softphone) > limit:
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
