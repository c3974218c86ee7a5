"""The bridge driven by recording fakes of its ports (the e2e tests drive it for real)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from app.agent.events import (
    AgentAudio,
    AgentEvent,
    Interrupted,
    ResumptionHandle,
    ToolCall,
    Transcript,
    TurnComplete,
)
from app.call.bridge import BridgeOptions, CallBridge
from app.call.core import CoreOptions
from app.call.dead_air import DeadAirPolicy
from app.call.outcome import Outcome
from app.errors import AgentSessionError, SocketClosed
from app.telephony import wire
from app.telephony.captures import load_capture
from app.tools import Tool
from tests.conftest import FIXTURES
from tests.support.fakes import FakeConnector, FakeSession, Script

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


async def run(
    frames: list[str | bytes], script: Script | None = None, **options: Any
) -> tuple[Any, FakeSocket, FakeSession]:
    socket = FakeSocket(frames)
    session = FakeSession(script)
    connector = FakeConnector(lambda index: session)
    summary = await CallBridge(socket, connector, BridgeOptions(CoreOptions(**options))).run()
    return summary, socket, session


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
    summary, _, session = await run(frames)
    assert summary.outcome is Outcome.COMPLETED and summary.reason == "caller hung up"
    assert summary.stats.frames_in == 1  # only the well-formed media after start
    assert len(session.audio) == 1 and len(session.audio[0]) == 640
    assert summary.stats.malformed_frames == 3
    assert summary.stats.ignored_frames == 3  # media before start, wrong stream, second start


async def test_no_start_in_time_opens_no_session() -> None:
    socket = FakeSocket([FRAMES[0]])
    connector = FakeConnector(lambda index: FakeSession())
    options = BridgeOptions(CoreOptions(start_timeout_s=0.05), tick_s=0.01)
    summary = await CallBridge(socket, connector, options).run()
    assert summary.outcome is Outcome.NO_START
    assert connector.handles == [] and socket.closed is not None


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
    connector = FakeConnector(lambda index: FakeSession(script))
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
    assert socket.closed == (1000, "agent_failed: boom")


async def test_the_greeting_reaches_the_session_before_the_callers_audio() -> None:
    order: list[str] = []

    class Recording(FakeSession):
        async def send_audio(self, pcm16k: bytes) -> None:
            order.append("audio")
            await super().send_audio(pcm16k)

        async def send_text(self, text: str) -> None:
            order.append(text)
            await super().send_text(text)

    socket = FakeSocket([FRAMES[0], FRAMES[1], *FRAMES[2:6], FRAMES[-1]])
    connector = FakeConnector(lambda index: Recording())
    options = BridgeOptions(CoreOptions(greeting="Hi there"))
    summary = await CallBridge(socket, connector, options).run()
    assert summary.outcome is Outcome.COMPLETED and summary.stats.frames_in == 4
    assert order == ["Hi there", "audio", "audio", "audio", "audio"]


async def test_a_refused_start_opens_no_session() -> None:
    refused: list[str] = []

    async def admit(start: wire.Start) -> str | None:
        refused.append(start.call_sid)
        return "stream token already used"

    socket = FakeSocket([FRAMES[0], FRAMES[1], *FRAMES[2:6]])
    socket.inbox.put_nowait(None)  # then the socket closes (if nothing ended the call first)
    connector = FakeConnector(lambda index: FakeSession())
    options = BridgeOptions(CoreOptions(greeting="Hi there"), admit=admit)
    summary = await CallBridge(socket, connector, options).run()
    assert summary.outcome is Outcome.REFUSED and summary.reason == "stream token already used"
    assert refused == [json.loads(FRAMES[1])["start"]["callSid"]]
    assert connector.handles == []  # no Gemini session was ever asked for
    assert socket.closed == (1008, "refused: stream token already used")


@pytest.mark.dead_air
async def test_a_silent_session_is_nudged_then_renewed_and_the_answer_told() -> None:
    """The core's RenewSession reaches the link: the mute session is closed, a resumed
    one opened with the handle and nudged; a tool's answer reaches the core too."""
    first = FakeSession(
        [
            ResumptionHandle("h1", True),
            ToolCall("c1", "lookup", {}),
            Transcript("caller", "When do you open?"),
        ]
    )
    second = FakeSession([AgentAudio(bytes(960)), TurnComplete()])
    connector = FakeConnector(lambda index: [first, second][index])
    socket = FakeSocket([FRAMES[0], FRAMES[1]])
    dead_air = DeadAirPolicy(seconds=0.2, instruction="Answer now.", switch_wait_s=5.0)
    lookup = Tool("lookup", "Look it up.", {"type": "object"}, _lookup)
    options = BridgeOptions(CoreOptions(dead_air=dead_air), tools=(lookup,), tick_s=0.01)
    bridge = CallBridge(socket, connector, options)
    task = asyncio.create_task(bridge.run())
    async with asyncio.timeout(5):
        while not any(m["event"] == "media" for m in socket.sent):
            await asyncio.sleep(0.01)
    socket.inbox.put_nowait(None)
    summary = await task
    assert first.tool_responses and first.tool_responses[0][2]["result"]["status"] == "done"
    assert first.texts == ["Answer now."] and second.texts == ["Answer now."]
    assert connector.handles == [None, "h1"] and first.closed
    assert (summary.link.renewals, summary.link.reconnects) == (1, 0)
    assert bridge.core.dead_air.recoveries == 1


async def _lookup() -> None:
    """Finds nothing."""
