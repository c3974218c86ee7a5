"""The recorded calls the end-to-end tests replay, and what the stand-in model answers."""

from __future__ import annotations

import asyncio
import wave

from app.call.bridge import CALL_TASKS
from app.telephony.captures import capture_ulaw, load_capture
from app.telephony.emulator import TwilioEmulator
from app.telephony.media_stream import MediaStream
from tests.conftest import FIXTURES
from tests.support.gemini_standin import StandInConnection
from tests.support.server import AUTH_TOKEN, PUBLIC_URL, RunningServer

QUESTION = load_capture(FIXTURES / "caller_question.json")
BARGE_IN = load_capture(FIXTURES / "caller_barge_in.json")
CALL_SID = QUESTION[1]["start"]["callSid"]


def reply_pcm24k() -> bytes:
    with wave.open(str(FIXTURES / "agent_reply_24k.wav")) as wav:
        assert wav.getframerate() == 24000 and wav.getsampwidth() == 2
        frames: bytes = wav.readframes(wav.getnframes())
        return frames


REPLY = reply_pcm24k()


async def start_call(
    server: RunningServer, *, sign: bool = True, call_sid: str = CALL_SID
) -> tuple[TwilioEmulator, MediaStream]:
    twilio = TwilioEmulator(server.base, PUBLIC_URL, AUTH_TOKEN)
    instruction = await twilio.incoming_call(call_sid)
    assert instruction.url == "wss://bot.example.com/media-stream"
    stream = await twilio.open_stream(instruction, sign=sign)
    return twilio, stream


async def answer_question(conn: StandInConnection) -> None:
    caller_ms = len(capture_ulaw(QUESTION)) / 8
    await conn.wait_audio_ms(caller_ms - 200, timeout=15)
    await conn.transcript("caller", "What time does the store open tomorrow?")
    await conn.send_audio(REPLY, chunk_ms=40)  # a burst, faster than real time
    await conn.transcript("agent", "Sure. The store opens at nine in the morning.")
    await conn.generation_complete()
    await conn.turn_complete()


async def reply_talked_over(conn: StandInConnection) -> tuple[asyncio.Event, asyncio.Task[None]]:
    """A long reply at twice real time (as Gemini bursts it) from 200 ms into the call;
    returns once the caller (BARGE_IN) has talked over it for 300 ms, with the event
    that stops it and the task still sending it."""
    await conn.wait_audio_ms(200)
    stop = asyncio.Event()
    speaking = asyncio.create_task(conn.send_audio(REPLY * 3, realtime=2.0, until=stop))
    await conn.wait_audio_ms(1500 + 300)
    return stop, speaking


def call_tasks() -> list[asyncio.Task[object]]:
    """The tasks of calls still running in this process (none once a call has ended)."""
    return [t for t in asyncio.all_tasks() if t.get_name() in CALL_TASKS]
