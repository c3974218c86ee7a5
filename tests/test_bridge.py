"""The bridge driven by recording fakes of its ports (the e2e tests drive it for real)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from app import twilio_wire as wire
from app.bridge import BridgeOptions, CallBridge, Outcome
from app.events import AgentAudio, AgentEvent, AgentSessionError, Interrupted, TurnComplete
from app.ports import SocketClosed
from tests.conftest import FIXTURES
from tests.support.twilio_client import load_capture

FRAMES = [json.dumps(f) for f in load_capture(FIXTURES / "caller_question.json")]
STREAM_SID = json.loads(FRAMES[1])["streamSid"]


class FakeSocket:
    def __init__(self, frames: list[str | bytes]) -> None:
        self.inbox: asyncio.Queue[str | bytes | None] = asyncio.Queue()
        for frame in frames:
            self.inbox.put_nowait(frame)
        self.sent: list[dict[str, Any]] = []
        self.closed: tuple[int, str] | None = None

    async def receive(self) -> str | bytes:
        frame = await self.inbox.get()
        if frame is None:
            raise SocketClosed(1000)
        return frame

    async def send(self, text: str) -> None:
        self.sent.append(json.loads(text))

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self.closed = (code, reason)


class FakeSession:
    def __init__(self, script: list[AgentEvent | Exception]) -> None:
        self.audio: list[bytes] = []
        self.texts: list[str] = []
        self.script = script

    async def send_audio(self, pcm16k: bytes) -> None:
        self.audio.append(pcm16k)

    async def send_text(self, text: str) -> None:
        self.texts.append(text)

    async def events(self) -> AsyncIterator[AgentEvent]:
        for item in self.script:
            await asyncio.sleep(0)
            if isinstance(item, Exception):
                raise item
            yield item
        await asyncio.Event().wait()  # the session stays open


class FakeConnector:
    def __init__(self, session: FakeSession) -> None:
        self.session = session
        self.opened = 0

    @asynccontextmanager
    async def connect(self, resume_handle: str | None = None) -> AsyncIterator[FakeSession]:
        self.opened += 1
        yield self.session


async def run(
    frames: list[str | bytes], script: list[AgentEvent | Exception] | None = None, **options: Any
) -> tuple[Any, FakeSocket, FakeConnector]:
    socket = FakeSocket(frames)
    connector = FakeConnector(FakeSession(script or []))
    summary = await CallBridge(socket, connector, BridgeOptions(**options)).run()
    return summary, socket, connector


async def test_hostile_frames_are_counted_and_the_call_goes_on() -> None:
    media = FRAMES[2]
    wrong_stream = media.replace(STREAM_SID, "MZ" + "0" * 32)
    frames: list[str | bytes] = [
        FRAMES[0],
        media,
        "garbage",
        FRAMES[1],
        b"\x00binary",
        wrong_stream,
        FRAMES[1],
        '{"event": "media", "streamSid": "x", "media": {"payload": "!!"}}',
        media,
        FRAMES[-1],
    ]
    summary, _, connector = await run(frames)
    assert summary.outcome is Outcome.COMPLETED and summary.reason == "caller hung up"
    assert summary.stats.frames_in == 1  # only the well-formed media after start
    assert len(connector.session.audio) == 1 and len(connector.session.audio[0]) == 640
    assert summary.stats.malformed_frames == 3
    assert summary.stats.ignored_frames == 3  # media before start, wrong stream, second start


async def test_no_start_in_time_opens_no_session() -> None:
    summary, socket, connector = await run([FRAMES[0]], start_timeout_s=0.05)
    assert summary.outcome is Outcome.NO_START
    assert connector.opened == 0 and socket.closed is not None


async def test_interrupt_sends_clear_first_and_drops_the_held_tail() -> None:
    pcm = bytes(2) * 241  # 241 samples: one sample stays held by the ÷3 step
    script: list[AgentEvent | Exception] = [
        AgentAudio(pcm),
        Interrupted(),
        AgentAudio(pcm),
        TurnComplete(),
    ]
    frames: list[str | bytes] = [FRAMES[0], FRAMES[1]]
    socket = FakeSocket(frames)
    connector = FakeConnector(FakeSession(script))
    bridge = CallBridge(socket, connector, BridgeOptions())
    task = asyncio.create_task(bridge.run())
    while len([m for m in socket.sent if m["event"] == "mark"]) < 3:
        await asyncio.sleep(0.01)
    socket.inbox.put_nowait(None)
    await task
    events = [m["event"] for m in socket.sent]
    assert events == ["media", "mark", "clear", "media", "mark", "media", "mark"]
    sizes = [len(m["media"]["payload"]) for m in socket.sent if m["event"] == "media"]
    assert sizes[0] == sizes[1]  # the second turn starts clean: nothing carried over
    names = [m["mark"]["name"] for m in socket.sent if m["event"] == "mark"]
    assert names[0].startswith("g0-t1-") and names[1].startswith("g1-t2-")


async def test_agent_failure_closes_the_socket_for_the_apology() -> None:
    summary, socket, _ = await run([FRAMES[0], FRAMES[1]], [AgentSessionError("boom", code=1011)])
    assert summary.outcome is Outcome.AGENT_FAILED and summary.reason == "boom"
    assert socket.closed == (1000, "agent_failed")


async def test_greeting_is_sent_before_anything_else() -> None:
    summary, _, connector = await run([FRAMES[0], FRAMES[1], FRAMES[-1]], greeting="Hi there")
    assert connector.session.texts == ["Hi there"]
    assert summary.outcome is Outcome.COMPLETED
    assert wire.parse(FRAMES[-1]) is not None
