"""The narrow interfaces the call bridge depends on.

The HTTP edge adapts Starlette's WebSocket to :class:`MediaSocket`; the Gemini
adapter provides :class:`AgentConnector`. Tests drive the bridge with recording
fakes of these, and the end-to-end tests with the real things.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

from app.agent.events import AgentEvent, HistoryTurn


class MediaSocket(Protocol):
    async def receive(self) -> str | bytes:
        """The next frame; raises :class:`SocketClosed` when the peer is gone."""
        ...

    async def send(self, text: str) -> None:
        """Send one text frame; raises :class:`SocketClosed` when the peer is gone."""
        ...

    async def close(self, code: int = 1000, reason: str = "") -> None: ...


class AgentSession(Protocol):
    async def send_audio(self, pcm16k: bytes) -> None: ...

    async def send_text(self, text: str) -> None: ...

    async def send_tool_response(
        self, call_id: str, name: str, response: dict[str, Any], scheduling: str | None
    ) -> None: ...

    def events(self) -> AsyncGenerator[AgentEvent, None]: ...

    async def close(self) -> None:
        """Close now (the link gives the session up); ``events()`` then ends by raising
        :class:`~app.errors.AgentSessionError`."""
        ...


class AgentConnector(Protocol):
    def connect(
        self, resume_handle: str | None = None, history: Sequence[HistoryTurn] = ()
    ) -> AbstractAsyncContextManager[AgentSession]:
        """A session: resumed with ``resume_handle``, or fresh and told ``history`` (the
        conversation so far) before anything else."""
        ...


class CallControl(Protocol):
    """Acting on the phone call itself (Twilio's REST API)."""

    async def redirect(self, call_sid: str, twiml: str) -> None: ...

    async def hangup(self, call_sid: str) -> None: ...
