"""The registry of one process: everything in this process's memory (the default).

Behaves as the fleet's registry does, for a deployment of one process: capacity is
this process's calls in progress plus the stream tokens it issued and that are not
yet used (one per CallSid); every call it admits is held here; a control reaches a
call only if this process holds it. Memory is bounded: the oldest remembered ended
calls and answers are forgotten first.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from app.call.controls import Control, Reply
from app.errors import CallNotHere, CallRefused, TokenRejected
from app.registry.base import ENDED, IN_PROGRESS, NO_ROOM, AfterStream, Deliver, Dial, Load, busy
from app.registry.throttle import FailureThrottle
from app.telephony.sids import is_softphone
from app.telephony.stream_tokens import StreamTokens

MEMORY_LIMIT = 100_000  # ended calls and after-stream answers remembered
V = TypeVar("V")


def bounded_put(memory: OrderedDict[str, V], key: str, value: V, limit: int) -> None:
    memory.pop(key, None)
    memory[key] = value
    while len(memory) > limit:
        del memory[next(iter(memory))]  # the oldest


@dataclass
class MemoryRegistry:
    tokens: StreamTokens
    max_calls: int
    max_softphone_calls: int = 3
    process: str = "this process"
    clock: Callable[[], float] = time.time
    limit: int = MEMORY_LIMIT
    _held: set[str] = field(default_factory=set)
    _transfers: dict[str, str] = field(default_factory=dict)
    _after: OrderedDict[str, AfterStream] = field(default_factory=OrderedDict)
    _ended: OrderedDict[str, None] = field(default_factory=OrderedDict)
    _deliver: Deliver | None = None

    async def open(self, deliver: Deliver) -> None:
        self._deliver = deliver

    async def aclose(self) -> None:
        self._deliver = None

    def _limit(self, call_sid: str) -> int:
        return self.max_softphone_calls if is_softphone(call_sid) else self.max_calls

    def _load_of(self, call_sid: str) -> int:
        """Calls of ``call_sid``'s kind in progress or about to connect, itself left out."""
        calls = (self._held | self.tokens.pending(self.clock())) - {call_sid}
        kind = is_softphone(call_sid)
        return sum(1 for sid in calls if is_softphone(sid) == kind)

    async def offer(self, call_sid: str) -> str:
        if call_sid in self._held:
            raise CallRefused(IN_PROGRESS, replayed=True)
        if call_sid in self._ended:
            raise CallRefused(ENDED, replayed=True)
        limit = self._limit(call_sid)
        if self._load_of(call_sid) >= limit:
            raise CallRefused(busy(limit))
        return self.tokens.issue(call_sid, self.clock())

    async def admit(self, call_sid: str, token: str) -> str | None:
        try:
            self.tokens.redeem(token, call_sid, self.clock())
        except TokenRejected as rejected:
            return rejected.reason
        if call_sid in self._held or call_sid in self._ended:
            return "that call is already in progress or has ended"
        if self._load_of(call_sid) >= self._limit(call_sid):
            return NO_ROOM
        self._held.add(call_sid)
        return None

    async def transferring(self, call_sid: str, number: str | None) -> None:
        if number is None:
            self._transfers.pop(call_sid, None)
        elif call_sid in self._held:
            self._transfers[call_sid] = number

    async def release(self, call_sid: str, after: AfterStream | None) -> None:
        if call_sid not in self._held:
            return
        self._held.discard(call_sid)
        bounded_put(self._ended, call_sid, None, self.limit)
        number = self._transfers.pop(call_sid, None)
        if number is not None:
            after = Dial(number)
        if after is not None:
            bounded_put(self._after, call_sid, after, self.limit)

    async def after_stream(self, call_sid: str) -> AfterStream | None:
        return self._after.pop(call_sid, None)

    async def completed(self, call_sid: str) -> None:
        self._after.pop(call_sid, None)  # (a transfer was settled when the stream ended)

    async def locate(self, call_sid: str) -> str | None:
        return self.process if call_sid in self._held else None

    async def control(self, call_sid: str, control: Control) -> Reply:
        reply = await self._deliver(call_sid, control) if self._deliver is not None else None
        if reply is None:
            raise CallNotHere(call_sid)
        return reply

    async def load(self) -> Load:
        calls = self._held | self.tokens.pending(self.clock())
        softphone = sum(1 for sid in calls if is_softphone(sid))
        return Load(phone=len(calls) - softphone, softphone=softphone)


@dataclass
class MemoryThrottle:
    """Wrong tokens per address, counted in this process."""

    throttle: FailureThrottle = field(default_factory=FailureThrottle)
    clock: Callable[[], float] = time.monotonic

    async def blocked(self, address: str) -> bool:
        return self.throttle.blocked(address, self.clock())

    async def failed(self, address: str) -> bool:
        return self.throttle.failed(address, self.clock())
