"""Keeps one call's agent session alive: resumption, goAway, reconnects, buffering.

:class:`AgentLink` sits between the bridge and an :class:`~app.ports.AgentConnector`.
The bridge sends caller audio to it and reads one stream of events from it; behind
that, the link

* keeps the latest session-resumption handle that came with ``resumable: true``;
* on ``goAway``, waits for a clean point (the agent is not mid-reply), opens the next
  session with the handle while the old one is still open (make-before-break), moves
  the call over, then closes the old one;
* on an abrupt loss (a close without ``goAway``, a reset, a setup failure or
  timeout), reconnects with the handle, with exponential backoff and full jitter,
  bounded in attempts and in total time; errors the service marks as the client's
  fault (4xx, close codes 1007/1008) are never retried;
* buffers caller audio while no session is usable (bounded; the oldest is dropped
  and counted beyond the bound) and sends it, in order, once a session is back, so
  each caller sample reaches the service exactly once;
* counts server messages the adapter skipped (:class:`~app.events.Ignored`) and logs
  each new kind once per process; they never reach the bridge and end nothing.

It never sends filler turns to keep a session warm: the WebSocket's own pings do.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

from app.events import (
    AgentAudio,
    AgentEvent,
    AgentSessionError,
    GenerationComplete,
    GoAway,
    Ignored,
    Interrupted,
    ResumptionHandle,
    ToolCall,
    ToolCallCancelled,
    TurnComplete,
)
from app.ports import AgentConnector, AgentSession

PCM16K_BYTES_PER_MS = 32

# Kinds of skipped server message already logged by this process: (keys, why). Bounded:
# a service inventing keys without end gets its first kinds logged, then only counted.
_ignored_kinds_logged: set[tuple[tuple[str, ...], str]] = set()
MAX_IGNORED_KINDS_LOGGED = 100


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

    reason: str  # "go_away" or "reconnect"
    gap_ms: float  # while caller audio was held back (goAway) or no session existed
    attempts: int  # connection attempts it took (a goAway switch makes one)
    handle: str | None


LinkEvent = AgentEvent | SessionSwitched


@dataclass
class LinkStats:
    sessions: int = 0
    switches: int = 0
    reconnects: int = 0
    failed_attempts: int = 0
    gaps_ms: list[float] = field(default_factory=list)
    handles_presented: list[str | None] = field(default_factory=list)
    audio_sent_bytes: int = 0
    dropped_ms: float = 0.0
    buffered_peak_ms: float = 0.0
    ignored_messages: int = 0  # server messages (or parts) skipped as unreadable


class AgentLink:
    """One call's view of the agent: a session that survives goAway and drops."""

    def __init__(
        self,
        connector: AgentConnector,
        policy: LinkPolicy,
        log: logging.LoggerAdapter[Any] | logging.Logger,
        rng: random.Random | None = None,
    ) -> None:
        self._connector = connector
        self._policy = policy
        self._log = log
        self._rng = rng or random.Random()
        self._session: AgentSession | None = None
        self._direct = False  # may send straight to the session (nothing pending before it)
        self._pending: deque[bytes | str] = deque()  # audio chunks and texts, in order
        self._pending_ms = 0.0
        self._generating = False
        self._switch_deadline: float | None = None
        self._tools_pending: set[str] = set()  # a tool call in flight is not a clean point
        self._tool_sessions: dict[str, int] = {}  # call key -> number of the session that asked
        self._session_no = 0
        self.handle: str | None = None
        self.stats = LinkStats()

    # the caller's side

    async def send_audio(self, pcm16k: bytes) -> None:
        """Send caller audio now, or hold it until a session is usable."""
        if self._direct and self._session is not None:
            try:
                await self._session.send_audio(pcm16k)
                self.stats.audio_sent_bytes += len(pcm16k)
                return
            except AgentSessionError as error:
                # Not sent: hold it. The receiving side sees the loss and reconnects.
                self._direct = False
                self._log.warning("caller audio held back: %s", error.reason)
        self._hold(pcm16k)

    async def send_text(self, text: str) -> None:
        """Send a text instruction now, or after the audio held before it."""
        if self._direct and self._session is not None:
            try:
                await self._session.send_text(text)
                return
            except AgentSessionError:
                self._direct = False
        self._pending.append(text)

    async def send_tool_response(
        self, call: ToolCall, response: dict[str, Any], scheduling: str | None
    ) -> bool:
        """Answer a tool call on the session that asked; False if that session is gone.

        The answer carries the call's id, or only its name when the model gave no id."""
        self._tools_pending.discard(call.key)
        session = self._session
        if session is None or self._tool_sessions.pop(call.key, None) != self._session_no:
            self._log.warning("tool result for %s dropped: its session has ended", call.name)
            return False
        try:
            await session.send_tool_response(call.call_id, call.name, response, scheduling)
            return True
        except AgentSessionError as error:
            self._log.warning("tool result for %s not delivered: %s", call.name, error.reason)
            return False

    def _hold(self, pcm16k: bytes) -> None:
        self._pending.append(pcm16k)
        self._pending_ms += len(pcm16k) / PCM16K_BYTES_PER_MS
        self.stats.buffered_peak_ms = max(self.stats.buffered_peak_ms, self._pending_ms)
        while self._pending_ms > self._policy.buffer_ms:
            oldest = next(i for i, item in enumerate(self._pending) if isinstance(item, bytes))
            dropped = self._pending[oldest]
            del self._pending[oldest]
            assert isinstance(dropped, bytes)
            ms = len(dropped) / PCM16K_BYTES_PER_MS
            self._pending_ms -= ms
            self.stats.dropped_ms += ms

    async def _flush(self, session: AgentSession) -> None:
        """Send everything held, in order; then go direct. Raises if the session fails."""
        while self._pending:
            item = self._pending[0]
            if isinstance(item, bytes):
                await session.send_audio(item)
                self.stats.audio_sent_bytes += len(item)
                self._pending_ms -= len(item) / PCM16K_BYTES_PER_MS
            else:
                await session.send_text(item)
            self._pending.popleft()
        # No await since the deque emptied, so nothing can slip in ahead of later audio.
        self._pending_ms = 0.0
        self._direct = True

    # the agent's side

    async def events(self) -> AsyncIterator[LinkEvent]:
        """Agent events across every session of the call.

        Ends only by raising :class:`AgentSessionError` (not retryable, or retries
        exhausted) or by being closed.
        """
        stack, _ = await self._connect_with_retry("connect", time.monotonic())
        try:
            while True:
                assert self._session is not None
                stream = self._session.events()
                try:
                    async for event in stream:
                        if isinstance(event, Ignored):
                            self._note_ignored(event)
                        else:
                            self._observe(event)
                            yield event
                        if self._switch_due():
                            switched = await self._make_before_break(stack)
                            if switched is not None:
                                stack, note = switched
                                yield note
                                break
                    else:
                        raise AgentSessionError("the session ended", retryable=True)
                except AgentSessionError as error:
                    if not error.retryable:
                        raise
                    lost_at = time.monotonic()
                    self._log.warning("agent session lost: %s; reconnecting", error.reason)
                    self._session, self._direct, self._generating = None, False, False
                    self._switch_deadline = None
                    await stack.aclose()
                    stack, attempts = await self._connect_with_retry("reconnect", lost_at)
                    self.stats.reconnects += 1
                    gap = 1000 * (time.monotonic() - lost_at)
                    self.stats.gaps_ms.append(gap)
                    yield SessionSwitched("reconnect", gap, attempts, self.handle)
                finally:
                    await stream.aclose()
        finally:
            self._session, self._direct = None, False
            await stack.aclose()

    def _observe(self, event: AgentEvent) -> None:
        if isinstance(event, ResumptionHandle) and event.resumable:
            self.handle = event.handle
        elif isinstance(event, AgentAudio):
            self._generating = True
        elif isinstance(event, (TurnComplete, Interrupted, GenerationComplete)):
            self._generating = False
        elif isinstance(event, ToolCall):
            self._tools_pending.add(event.key)
            self._tool_sessions[event.key] = self._session_no
        elif isinstance(event, ToolCallCancelled):
            self._tools_pending.difference_update(event.call_ids)
            for call_id in event.call_ids:
                self._tool_sessions.pop(call_id, None)
        elif isinstance(event, GoAway):
            left = event.time_left_s
            wait = self._policy.clean_point_wait_s
            if left is not None:
                wait = min(wait, max(0.0, left - self._policy.switch_margin_s))
            self._switch_deadline = time.monotonic() + wait
            self._log.info(
                "goAway: %s s left; moving the call at the next clean point", event.time_left_s
            )

    def _note_ignored(self, event: Ignored) -> None:
        self.stats.ignored_messages += 1
        kind = (event.keys, event.why)
        if kind in _ignored_kinds_logged or len(_ignored_kinds_logged) >= MAX_IGNORED_KINDS_LOGGED:
            return
        _ignored_kinds_logged.add(kind)
        self._log.warning(
            "skipped a Gemini message with top-level key(s) %s: %s%s; the call and its"
            " session go on (logged once per kind)",
            ", ".join(repr(key) for key in event.keys),
            event.why,
            f" ({event.detail})" if event.detail else "",
        )

    def _switch_due(self) -> bool:
        if self._switch_deadline is None:
            return False
        clean = not self._generating and not self._tools_pending
        return clean or time.monotonic() >= self._switch_deadline

    async def _make_before_break(
        self, old_stack: AsyncExitStack
    ) -> tuple[AsyncExitStack, SessionSwitched] | None:
        """Open the next session while the old one still runs, then move over."""
        began = time.monotonic()
        self._direct = False  # caller audio is held from here until the new session has it
        old = self._session
        try:
            new_stack, new_session = await self._open()
        except AgentSessionError as error:
            self.stats.failed_attempts += 1
            self._log.warning("could not open the next session before goAway: %s", error.reason)
            self._switch_deadline = None  # the old session goes on; its end means reconnect
            if old is not None:
                await self._flush(old)
            return None
        self._became_current(new_session)
        self._switch_deadline = None
        try:
            await self._flush(new_session)
        except AgentSessionError:
            await new_stack.aclose()
            raise
        finally:
            await old_stack.aclose()
        gap = 1000 * (time.monotonic() - began)
        self.stats.switches += 1
        self.stats.gaps_ms.append(gap)
        self._log.info("moved the call to a new session after goAway in %.0f ms", gap)
        return new_stack, SessionSwitched("go_away", gap, 1, self.handle)

    async def _open(self) -> tuple[AsyncExitStack, AgentSession]:
        stack = AsyncExitStack()
        self.stats.handles_presented.append(self.handle)
        try:
            session = await stack.enter_async_context(self._connector.connect(self.handle))
        except BaseException:
            await stack.aclose()
            raise
        self.stats.sessions += 1
        return stack, session

    def _became_current(self, session: AgentSession) -> None:
        self._session = session
        self._session_no += 1
        self._tools_pending.clear()  # calls the old session made cannot be answered now

    async def _connect_with_retry(self, why: str, since: float) -> tuple[AsyncExitStack, int]:
        """Open a session and flush held audio, retrying with backoff; or raise.

        Returns the session's exit stack and how many attempts it took."""
        attempt = 0
        while True:
            attempt += 1
            try:
                stack, session = await self._open()
                self._became_current(session)
                try:
                    await self._flush(session)
                except AgentSessionError:
                    self._session, self._direct = None, False
                    await stack.aclose()
                    raise
                if attempt > 1 or why == "reconnect":
                    self._log.info("%s succeeded on attempt %d", why, attempt)
                return stack, attempt
            except AgentSessionError as error:
                self.stats.failed_attempts += 1
                spent = time.monotonic() - since
                if not error.retryable:
                    raise
                if attempt > self._policy.max_attempts or spent >= self._policy.max_reconnect_s:
                    raise AgentSessionError(
                        f"gave up after {attempt} attempts in {spent:.1f} s: {error.reason}",
                        code=error.code,
                    ) from error
                delay = self._rng.uniform(
                    0, min(self._policy.backoff_cap_s, self._policy.backoff_base_s * 2**attempt)
                )
                delay = min(delay, max(0.0, self._policy.max_reconnect_s - spent))
                self._log.warning(
                    "%s attempt %d failed (%s); next in %.2f s", why, attempt, error.reason, delay
                )
                await asyncio.sleep(delay)
