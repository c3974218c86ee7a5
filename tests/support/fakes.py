"""Recording fakes of the bridge's ports, for unit tests (never the only test of a path)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from app.agent.events import AgentEvent, HistoryTurn
from app.errors import AgentSessionError

Script = Sequence[AgentEvent | Exception | float]  # a float: pause that many seconds


class FakeSession:
    """Replays a script of events (an exception ends it); records what it was sent."""

    def __init__(self, script: Script | None = None, *, fail_sends: bool = False) -> None:
        self.audio: list[bytes] = []
        self.texts: list[str] = []
        self.tool_responses: list[tuple[str, str, dict[str, Any], str | None]] = []
        self.script = script or []
        self.fail_sends = fail_sends
        self.closed = False
        self.broken = asyncio.Event()  # set to make the session fail now
        self.history: tuple[HistoryTurn, ...] = ()  # what it was seeded with

    async def send_audio(self, pcm16k: bytes) -> None:
        if self.fail_sends or self.closed:
            raise AgentSessionError("send failed", retryable=True)
        self.audio.append(pcm16k)

    async def send_text(self, text: str) -> None:
        if self.fail_sends or self.closed:
            raise AgentSessionError("send failed", retryable=True)
        self.texts.append(text)

    async def send_tool_response(
        self, call_id: str, name: str, response: dict[str, Any], scheduling: str | None
    ) -> None:
        if self.fail_sends or self.closed:
            raise AgentSessionError("send failed", retryable=True)
        self.tool_responses.append((call_id, name, response, scheduling))

    async def events(self) -> AsyncGenerator[AgentEvent, None]:
        for item in self.script:
            if isinstance(item, float):
                await asyncio.sleep(item)
                continue
            await asyncio.sleep(0)
            if isinstance(item, Exception):
                self.fail_sends = True
                raise item
            yield item
        await self.broken.wait()
        self.fail_sends = True
        if self.closed:
            raise AgentSessionError("closed by the client", code=1000, retryable=True)
        raise AgentSessionError("connection lost", code=1006, retryable=True)

    async def close(self) -> None:
        self.closed = True
        self.broken.set()


class FakeConnector:
    """Hands out sessions made by ``factory(index)``; an exception fails that attempt."""

    def __init__(self, factory: Callable[[int], FakeSession | Exception]) -> None:
        self.factory = factory
        self.handles: list[str | None] = []
        self.histories: list[tuple[HistoryTurn, ...]] = []
        self.sessions: list[FakeSession] = []

    @asynccontextmanager
    async def connect(
        self, resume_handle: str | None = None, history: Sequence[HistoryTurn] = ()
    ) -> AsyncIterator[FakeSession]:
        self.handles.append(resume_handle)
        self.histories.append(tuple(history))
        made = self.factory(len(self.handles) - 1)
        if isinstance(made, Exception):
            raise made
        made.history = tuple(history)
        self.sessions.append(made)
        try:
            yield made
        finally:
            made.closed = True
