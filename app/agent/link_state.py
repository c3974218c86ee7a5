"""The agent link's decisions, sans I/O: what to hold while no session is usable, what
it knows of the current session, and when to retry. Pure: the clock and the random
draw are passed in. :class:`~app.agent.link.AgentLink` pumps sessions around them."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from app.agent.events import (
    AgentAudio,
    AgentEvent,
    GenerationComplete,
    GoAway,
    HistoryTurn,
    Interrupted,
    ResumptionHandle,
    ToolCall,
    ToolCallCancelled,
    TurnComplete,
)

PCM16K_BYTES_PER_MS = 32
# Close codes that mean "the request is wrong" yet arrive mid-call, after a setup the
# service accepted (1007 on about 6 % of calls in one deployment): retried once, with the
# handle, before they count as fatal.
RETRIED_ONCE_CLOSE_CODES = frozenset({1007})


@dataclass(frozen=True)
class LinkPolicy:
    max_attempts: int = 6
    max_reconnect_s: float = 30.0
    backoff_base_s: float = 0.1
    backoff_cap_s: float = 4.0
    buffer_ms: float = 10_000.0
    # After goAway, the longest wait for a clean point before switching anyway. The
    # wait also ends `switch_margin_s` before the time the service said it has left.
    clean_point_wait_s: float = 15.0
    switch_margin_s: float = 2.0


@dataclass(frozen=True)
class SessionSwitched:
    """The call moved to a new session (after goAway, or after a loss)."""

    reason: str  # "go_away", "reconnect" or "renewal" (asked for: dead-air recovery)
    gap_ms: float  # while caller audio was held back (goAway) or no session existed
    attempts: int  # connection attempts it took (a goAway switch makes one)
    handle: str | None


@dataclass(frozen=True)
class Renewal:
    """A new session asked for in place of one that went silent: resumed with the latest
    handle first (``resume``), or, without a handle or if resuming fails, a fresh one
    told ``history`` (the conversation so far)."""

    history: tuple[HistoryTurn, ...]
    resume: bool


@dataclass
class LinkStats:
    sessions: int = 0
    switches: int = 0
    reconnects: int = 0
    renewals: int = 0  # sessions replaced on request (dead-air recovery)
    failed_attempts: int = 0
    gaps_ms: list[float] = field(default_factory=list)
    handles_presented: list[str | None] = field(default_factory=list)
    audio_sent_bytes: int = 0
    dropped_ms: float = 0.0
    buffered_peak_ms: float = 0.0
    ignored_messages: int = 0  # server messages (or parts) skipped as unreadable


class CallerBuffer:
    """Caller audio and instructions held while no session is usable, in order. The
    audio is bounded: beyond ``bound_ms`` the oldest audio is dropped (and counted);
    instructions are never dropped."""

    def __init__(self, bound_ms: float, stats: LinkStats) -> None:
        self._bound_ms = bound_ms
        self._stats = stats
        self._items: deque[bytes | str] = deque()
        self.held_ms = 0.0

    def __bool__(self) -> bool:
        return bool(self._items)

    def hold_audio(self, pcm16k: bytes) -> None:
        self._items.append(pcm16k)
        self.held_ms += len(pcm16k) / PCM16K_BYTES_PER_MS
        self._stats.buffered_peak_ms = max(self._stats.buffered_peak_ms, self.held_ms)
        while self.held_ms > self._bound_ms:
            oldest = next(i for i, item in enumerate(self._items) if isinstance(item, bytes))
            dropped = self._items[oldest]
            del self._items[oldest]
            assert isinstance(dropped, bytes)
            ms = len(dropped) / PCM16K_BYTES_PER_MS
            self.held_ms -= ms
            self._stats.dropped_ms += ms

    def hold_text(self, text: str) -> None:
        self._items.append(text)

    def first(self) -> bytes | str:
        """The oldest item; :meth:`sent` once it has reached the session."""
        return self._items[0]

    def sent(self) -> None:
        item = self._items.popleft()
        if isinstance(item, bytes):
            self._stats.audio_sent_bytes += len(item)
            self.held_ms = max(0.0, self.held_ms - len(item) / PCM16K_BYTES_PER_MS)
        if not self._items:
            self.held_ms = 0.0


class SessionWatch:
    """What the link knows of its sessions: the latest resumable handle (presented to
    the next session), whether the model is mid-reply or a tool call is in flight (no
    clean point to switch at), which session asked each tool call, and goAway's
    deadline."""

    def __init__(self, policy: LinkPolicy) -> None:
        self._policy = policy
        self.handle: str | None = None
        self.session_no = 0
        self.generating = False
        self.switch_deadline: float | None = None
        self._tools_pending: set[str] = set()
        self._tool_sessions: dict[str, int] = {}  # call key -> number of the session that asked
        self._closes_retried: set[int] = set()  # RETRIED_ONCE_CLOSE_CODES met so far

    def observe(self, event: AgentEvent, now: float) -> None:
        if isinstance(event, ResumptionHandle) and event.resumable:
            self.handle = event.handle
        elif isinstance(event, AgentAudio):
            self.generating = True
        elif isinstance(event, (TurnComplete, Interrupted, GenerationComplete)):
            self.generating = False
        elif isinstance(event, ToolCall):
            self._tools_pending.add(event.key)
            self._tool_sessions[event.key] = self.session_no
        elif isinstance(event, ToolCallCancelled):
            self._tools_pending.difference_update(event.call_ids)
            for call_id in event.call_ids:
                self._tool_sessions.pop(call_id, None)
        elif isinstance(event, GoAway):
            left = event.time_left_s
            wait = self._policy.clean_point_wait_s
            if left is not None:
                wait = min(wait, max(0.0, left - self._policy.switch_margin_s))
            self.switch_deadline = now + wait

    def became_current(self) -> None:
        """A new session carries the call: calls the old one made cannot be answered."""
        self.session_no += 1
        self._tools_pending.clear()

    def lost(self) -> None:
        self.generating = False
        self.switch_deadline = None

    def forget_handle(self) -> None:
        """The next session starts a new context (the old one could not be resumed)."""
        self.handle = None

    def retry_once(self, code: int | None) -> bool:
        """A session ended with a close that counts as fatal: may it be retried (once per
        call and code, for :data:`RETRIED_ONCE_CLOSE_CODES`)?"""
        if code not in RETRIED_ONCE_CLOSE_CODES or code in self._closes_retried:
            return False
        self._closes_retried.add(code)
        return True

    def answered(self, key: str) -> bool:
        """A tool call's answer is ready: may it go to the current session?"""
        self._tools_pending.discard(key)
        return self._tool_sessions.pop(key, None) == self.session_no

    def switch_due(self, now: float) -> bool:
        """After goAway: a clean point (no reply, no tool call in flight), or the deadline."""
        if self.switch_deadline is None:
            return False
        clean = not self.generating and not self._tools_pending
        return clean or now >= self.switch_deadline


def backoff(policy: LinkPolicy, attempt: int, spent_s: float, draw: float) -> float | None:
    """How long to wait before connection attempt ``attempt + 1`` (full jitter: ``draw``
    is uniform in [0, 1)), or None to give up (attempts or time exhausted)."""
    if attempt > policy.max_attempts or spent_s >= policy.max_reconnect_s:
        return None
    ceiling: float = min(policy.backoff_cap_s, policy.backoff_base_s * 2**attempt)
    return min(ceiling * draw, max(0.0, policy.max_reconnect_s - spent_s))
