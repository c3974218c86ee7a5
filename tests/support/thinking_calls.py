"""A call whose model calls a slow tool, over real sockets (the Twilio emulator on a
line that never falls silent, uvicorn, the real google-genai client over TLS to the
stand-in): what the caller gets while the tool runs. Shared by
tests/e2e/test_thinking_audio.py and bench/dead_air.py."""

from __future__ import annotations

import asyncio
import base64
import time
from pathlib import Path
from typing import Any

from app.call.thinking import MARK_PREFIX
from app.telephony.captures import capture_ulaw
from app.telephony.media_stream import MediaStream
from tests.support.calls import CALL_SID, QUESTION, REPLY, start_call
from tests.support.gemini_standin import GeminiStandIn, StandInConnection
from tests.support.live_call import PhoneLine
from tests.support.server import serve_app, settings_for

ANSWER = REPLY[: 2 * 24000]  # one second
TOOL_S = 2.0
WORDS = "The store opens at nine."


def tool_then_answer(times: dict[str, float], *, barge_in: bool = False) -> Any:
    async def scenario(conn: StandInConnection) -> None:
        await conn.wait_audio_ms(1600)  # the caller has asked (1.2 s) and paused
        await conn.transcript("caller", "When do you open?")
        times["tool_call"] = time.monotonic()
        await conn.tool_call("t1", "slow_lookup", {"topic": "hours", "seconds": TOOL_S})
        if barge_in:
            await asyncio.sleep(1.3)  # the sound has started (0.8 s) and plays
            times["interrupted"] = time.monotonic()
            await conn.interrupted()
        await conn.wait_tool_response("t1")
        await conn.send_audio(ANSWER)
        await conn.transcript("agent", WORDS)
        await conn.generation_complete()
        await conn.turn_complete()
        times["answered"] = time.monotonic()

    return scenario


def pairs(stream: MediaStream) -> list[tuple[str, float, str, bytes]]:
    """Each media message with the mark after it: (kind, time, mark, µ-law)."""
    received = [(t, m) for t, m in stream.received if m["event"] in ("media", "mark")]
    out = []
    for (t, media), (_, mark) in zip(received[::2], received[1::2], strict=True):
        assert (media["event"], mark["event"]) == ("media", "mark")  # each media, its mark
        name = mark["mark"]["name"]
        kind = "thinking" if name.startswith(MARK_PREFIX) else "agent"
        out.append((kind, t, name, base64.b64decode(media["media"]["payload"])))
    return out


async def thinking_call(
    standin: GeminiStandIn, tmp_path: Path, *, barge_in: bool = False, **overrides: Any
) -> tuple[MediaStream, dict[str, float], list[float], Any]:
    """One call: the caller asks, the model calls a tool that takes TOOL_S, then answers.
    Returns the stream, when the stand-in did what, Twilio's buffer (ms) sampled all
    along, and the call's summary."""
    times: dict[str, float] = {}
    standin.scenario = tool_then_answer(times, barge_in=barge_in)
    settings = settings_for(
        standin,
        tool_modules="tests.support.sample_tools",
        recordings_dir=str(tmp_path / "rec"),
        call_records_path=str(tmp_path / "calls.sqlite3"),
        **overrides,
    )
    queued: list[float] = []
    async with serve_app(settings) as server:
        _, stream = await start_call(server)
        await stream.replay(QUESTION[:2], stop=False)
        line = PhoneLine(stream)
        line.say(capture_ulaw(QUESTION)[: 8 * 1200])
        try:
            while "answered" not in times:  # Twilio's buffer, as often as the loop allows
                queued.append(stream.queued_ms)
                await asyncio.sleep(0.002)
            await stream.wait_for(lambda: len(stream.marks_echoed) == stream.marks_sent)
            await asyncio.sleep(0.2)
        finally:
            await line.close()
        await stream.stop(CALL_SID)
        await stream.wait_closed()
        summary = await server.call_ended()
    return stream, times, queued, summary


def thinking_delay(stream: MediaStream, times: dict[str, float]) -> float:
    """The tool call (as the stand-in sent it) → the first thinking frame at Twilio."""
    first = next(t for kind, t, *_ in pairs(stream) if kind == "thinking")
    return first - times["tool_call"]
