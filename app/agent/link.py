# edge: the asyncio side of the agent link
"""Keeps one call's agent session alive: resumption, goAway, reconnects, buffering.

:class:`AgentLink` sits between the bridge and an :class:`~app.call.ports.AgentConnector`.
The bridge sends caller audio to it and reads one stream of events from it; behind
that, the link

* keeps the latest session-resumption handle that came with ``resumable: true``;
* on ``goAway``, waits for a clean point (the agent is not mid-reply), opens the next
  session with the handle while the old one is still open (make-before-break), moves
  the call over, then closes the old one;
* on an abrupt loss (a close without ``goAway``, a reset, a setup failure or
  timeout), reconnects with the handle, with exponential backoff and full jitter,
  bounded in attempts and in total time; errors the service marks as the client's
  fault (4xx, close codes 1007/1008) are not retried, except a 1007 after setup (it
  comes intermittently mid-call), retried once with the handle before it is fatal;
* on request (:meth:`AgentLink.renew`, dead-air recovery) gives a silent session up for
  a new one: resumed with the handle, or, without one or if resuming fails, a fresh
  session told the conversation so far;
* buffers caller audio while no session is usable (bounded; the oldest is dropped
  and counted beyond the bound) and sends it, in order, once a session is back, so
  each caller sample reaches the service exactly once;
* counts server messages the adapter skipped (:class:`~app.agent.events.Ignored`) and logs
  each new kind once per process; they never reach the bridge and end nothing.

It never sends filler turns to keep a session warm: the WebSocket's own pings do.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack
from typing import Any

from app.agent.events import (
    AgentEvent,
    GoAway,
    HistoryTurn,
    Ignored,
    ToolCall,
)
from app.agent.link_state import (
    CallerBuffer,
    LinkPolicy,
    LinkStats,
    Renewal,
    SessionSwitched,
    SessionWatch,
    backoff,
)
from app.call.ports import AgentConnector, AgentSession
from app.errors import AgentSessionError

# Kinds of skipped server message already logged by this process: (keys, why). Bounded:
# a service inventing keys without end gets its first kinds logged, then only counted.
_ignored_kinds_logged: set[tuple[tuple[str, ...], str]] = set()
MAX_IGNORED_KINDS_LOGGED = 100


LinkEvent = AgentEvent | SessionSwitched


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
        self.stats = LinkStats()
        self._pending = CallerBuffer(policy.buffer_ms, self.stats)
        self._watch = SessionWatch(policy)
        self._renewal: Renewal | None = None  # asked for; done at the current session's end
        self._closing: asyncio.Task[None] | None = None  # the session given up, closing

    @property
    def handle(self) -> str | None:
        """The latest resumable handle: what the next session is opened with."""
        return self._watch.handle

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
        self._pending.hold_audio(pcm16k)

    async def send_text(self, text: str) -> None:
        """Send a text instruction now, or after the audio held before it."""
        if self._direct and self._session is not None:
            try:
                await self._session.send_text(text)
                return
            except AgentSessionError:
                self._direct = False
        self._pending.hold_text(text)

    async def send_tool_response(
        self, call: ToolCall, response: dict[str, Any], scheduling: str | None
    ) -> bool:
        """Answer a tool call on the session that asked; False if that session is gone.

        The answer carries the call's id, or only its name when the model gave no id."""
        current = self._watch.answered(call.key)
        session = self._session
        if session is None or not current:
            self._log.warning("tool result for %s dropped: its session has ended", call.name)
            return False
        try:
            await session.send_tool_response(call.call_id, call.name, response, scheduling)
            return True
        except AgentSessionError as error:
            self._log.warning("tool result for %s not delivered: %s", call.name, error.reason)
            return False

    def renew(self, history: Sequence[HistoryTurn], *, resume: bool) -> None:
        """Give the current session up for a new one (it went silent): resumed with the
        latest handle if ``resume`` and there is one, else (or if that fails) a fresh
        session told ``history``. Caller audio and instructions sent from now on wait
        for the new session. Returns at once; the event stream says
        :class:`SessionSwitched` (reason ``"renewal"``) when the new session carries the
        call. Without a session (one is being opened already) there is nothing to do."""
        session = self._session
        if session is None or self._renewal is not None:
            return
        self._renewal = Renewal(tuple(history), resume)
        self._direct = False
        # Closed on a task of its own: a peer that never answers the close must not hold
        # up whoever asked (the events loop sees the loss once it is closed).
        self._closing = asyncio.create_task(session.close(), name="agent: closing a session")

    async def _flush(self, session: AgentSession) -> None:
        """Send everything held, in order; then go direct. Raises if the session fails."""
        while self._pending:
            item = self._pending.first()
            if isinstance(item, bytes):
                await session.send_audio(item)
            else:
                await session.send_text(item)
            self._pending.sent()
        # No await since the buffer emptied, so nothing can slip in ahead of later audio.
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
                        if self._watch.switch_due(time.monotonic()):
                            switched = await self._make_before_break(stack)
                            if switched is not None:
                                stack, note = switched
                                yield note
                                break
                    else:
                        raise AgentSessionError("the session ended", retryable=True)
                except AgentSessionError as error:
                    renewal, self._renewal = self._renewal, None
                    lost_at = time.monotonic()
                    self._session, self._direct = None, False
                    self._watch.lost()
                    if renewal is not None:
                        await self._closed()
                        await stack.aclose()
                        stack, attempts = await self._renew(renewal, lost_at)
                        self.stats.renewals += 1
                        reason = "renewal"
                    else:
                        self._may_reconnect(error)
                        await stack.aclose()
                        stack, attempts = await self._connect_with_retry("reconnect", lost_at)
                        self.stats.reconnects += 1
                        reason = "reconnect"
                    gap = 1000 * (time.monotonic() - lost_at)
                    self.stats.gaps_ms.append(gap)
                    yield SessionSwitched(reason, gap, attempts, self.handle)
                finally:
                    await stream.aclose()
        finally:
            self._session, self._direct = None, False
            await self._closed()
            await stack.aclose()

    def _may_reconnect(self, error: AgentSessionError) -> None:
        """A lost session: reconnect, unless the loss says another session cannot help."""
        if error.retryable:
            self._log.warning("agent session lost: %s; reconnecting", error.reason)
        elif self._watch.retry_once(error.code):
            self._log.warning(
                "agent session lost: %s; a close with code %s after setup is retried once,"
                " with the latest handle, before it counts as fatal",
                error.reason,
                error.code,
            )
        else:
            raise error

    async def _closed(self) -> None:
        """The session given up (renew) is closed, however that went."""
        closing, self._closing = self._closing, None
        if closing is not None:
            await asyncio.gather(closing, return_exceptions=True)

    async def _renew(self, renewal: Renewal, since: float) -> tuple[AsyncExitStack, int]:
        """The session asked for: resumed, else fresh and seeded (see :meth:`renew`)."""
        if renewal.resume and self.handle is not None:
            try:
                return await self._connect_with_retry("resume", since, retry=False)
            except AgentSessionError as error:
                self._log.warning(
                    "resuming the session failed (%s); opening a fresh one told the"
                    " conversation so far (%d turns)",
                    error.reason,
                    len(renewal.history),
                )
        self._watch.forget_handle()
        return await self._connect_with_retry("fresh session", since, history=renewal.history)

    def _observe(self, event: AgentEvent) -> None:
        self._watch.observe(event, time.monotonic())
        if isinstance(event, GoAway):
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
            self._watch.switch_deadline = None  # the old one goes on; its end means reconnect
            if old is not None:
                await self._flush(old)
            return None
        self._became_current(new_session)
        self._watch.switch_deadline = None
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

    async def _open(
        self, history: Sequence[HistoryTurn] = ()
    ) -> tuple[AsyncExitStack, AgentSession]:
        stack = AsyncExitStack()
        self.stats.handles_presented.append(self.handle)
        try:
            session = await stack.enter_async_context(self._connector.connect(self.handle, history))
        except BaseException:
            await stack.aclose()
            raise
        self.stats.sessions += 1
        return stack, session

    def _became_current(self, session: AgentSession) -> None:
        self._session = session
        self._watch.became_current()

    async def _connect_with_retry(
        self,
        why: str,
        since: float,
        *,
        history: Sequence[HistoryTurn] = (),
        retry: bool = True,
    ) -> tuple[AsyncExitStack, int]:
        """Open a session (told ``history``, if any) and flush held audio, retrying with
        backoff (unless not ``retry``); or raise.

        Returns the session's exit stack and how many attempts it took."""
        attempt = 0
        while True:
            attempt += 1
            try:
                stack, session = await self._open(history)
                self._became_current(session)
                try:
                    await self._flush(session)
                except AgentSessionError:
                    self._session, self._direct = None, False
                    await stack.aclose()
                    raise
                if attempt > 1 or why != "connect":
                    self._log.info("%s succeeded on attempt %d", why, attempt)
                return stack, attempt
            except AgentSessionError as error:
                self.stats.failed_attempts += 1
                spent = time.monotonic() - since
                if not (error.retryable and retry):
                    raise
                delay = backoff(self._policy, attempt, spent, self._rng.random())
                if delay is None:
                    raise AgentSessionError(
                        f"gave up after {attempt} attempts in {spent:.1f} s: {error.reason}",
                        code=error.code,
                    ) from error
                self._log.warning(
                    "%s attempt %d failed (%s); next in %.2f s", why, attempt, error.reason, delay
                )
                await asyncio.sleep(delay)
