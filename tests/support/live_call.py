"""A call as production sees it: a phone line that never falls silent, and a model.

:class:`PhoneLine` is Twilio's inbound side after ``start``: a 20 ms µ-law frame
every 20 ms, quiet-line silence unless the caller is speaking (what real Media
Streams send, and what advances a call's recording clock). :func:`helpful_model` is
a Gemini Live stand-in scenario that answers every instruction it is sent (greeting,
an operator's ``say``, a transfer notice, the goodbye) with speech and a
transcript, and answers a caller's question by calling tools, replying, and
transferring the call with ``transfer_call``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from app.telephony.captures import FRAME_BYTES, FRAME_S, TWILIO_SILENCE, Frame, build_capture
from app.telephony.media_stream import MediaStream
from tests.support.gemini_standin import ClientWentAway, Scenario, StandInConnection

SPEECH_RMS = 300  # 16 kHz PCM windows louder than this hold speech (silence is ~0)
WINDOW_BYTES = 640  # 20 ms at 16 kHz, 16-bit


def opening(call_sid: str, stream_sid: str, account_sid: str) -> list[Frame]:
    """Twilio's ``connected`` and ``start`` for one stream (its ids, Twilio's shapes)."""
    connected, start = build_capture(b"", stop=False)[:2]
    ids = {"streamSid": stream_sid, "callSid": call_sid, "accountSid": account_sid}
    start = {**start, "streamSid": stream_sid, "start": {**start["start"], **ids}}
    return [connected, start]


@dataclass
class PhoneLine:
    """The caller's side of a stream: real-time frames until the server hangs up."""

    stream: MediaStream
    _speech: bytearray = field(default_factory=bytearray)
    _task: asyncio.Task[None] | None = None

    def __post_init__(self) -> None:
        self._task = asyncio.create_task(self._run())

    def say(self, ulaw: bytes) -> None:
        """The caller speaks ``ulaw`` (8 kHz µ-law) from the next frame on."""
        self._speech += ulaw

    async def _run(self) -> None:
        began = time.monotonic()
        tick = 0
        while True:
            frame = bytes(self._speech[:FRAME_BYTES])
            del self._speech[:FRAME_BYTES]
            frame += TWILIO_SILENCE[len(frame) :]
            if not await self.stream.send_audio(frame, realtime=0):
                return  # the server ended the stream
            tick += 1
            await asyncio.sleep(max(0.0, began + tick * FRAME_S - time.monotonic()))

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


def _window_rms(pcm16: bytes) -> npt.NDArray[np.float64]:
    usable = len(pcm16) // WINDOW_BYTES * WINDOW_BYTES
    samples = np.frombuffer(pcm16[:usable], dtype="<i2").astype(np.float64)
    rms: npt.NDArray[np.float64] = np.sqrt(np.mean(samples.reshape(-1, WINDOW_BYTES // 2) ** 2, 1))
    return rms


def speech_ms(conn: StandInConnection) -> float:
    """How much of the caller audio the stand-in received holds speech."""
    return float(np.count_nonzero(_window_rms(bytes(conn.audio)) > SPEECH_RMS)) * 20.0


def ended_speaking(conn: StandInConnection, at_least_ms: float, quiet_ms: float = 300) -> bool:
    """The caller said ``at_least_ms`` of speech, and the last ``quiet_ms`` were quiet."""
    tail = _window_rms(bytes(conn.audio[-int(quiet_ms * 32) :]))
    quiet = len(tail) == int(quiet_ms / 20) and not np.any(tail > SPEECH_RMS)
    return quiet and speech_ms(conn) >= at_least_ms


@dataclass(frozen=True)
class Question:
    """What the model does with the caller's question."""

    speech_ms: float  # how much speech makes the question (the caller then pauses)
    caller_text: str
    tool_calls: dict[str, tuple[str, dict[str, object]]]  # id -> (tool name, arguments)
    reply: bytes  # 24 kHz PCM
    reply_text: str
    transfer_to: str


def helpful_model(answer: bytes, answer_text: str, question: Question) -> Scenario:
    """A model that speaks ``answer`` for each instruction it is sent, and handles
    ``question`` when the caller asks it."""

    async def speak(conn: StandInConnection, pcm: bytes, text: str) -> None:
        await conn.send_audio(pcm)
        await conn.transcript("agent", text)
        await conn.generation_complete()
        await conn.turn_complete()

    async def answer_instructions(conn: StandInConnection) -> None:
        def more_than(n: int) -> Callable[[], bool]:
            return lambda: len(conn.texts) > n

        answered = 0
        while True:
            await conn.wait_for(more_than(answered), timeout=300)
            answered += 1
            await speak(conn, answer, answer_text)

    async def answer_question(conn: StandInConnection) -> None:
        await conn.wait_for(lambda: ended_speaking(conn, question.speech_ms), timeout=300)
        await conn.transcript("caller", question.caller_text)
        for call_id, (name, args) in question.tool_calls.items():
            await conn.tool_call(call_id, name, args)
        for call_id in question.tool_calls:
            await conn.wait_tool_response(call_id)
        await speak(conn, question.reply, question.reply_text)
        await conn.tool_call("transfer", "transfer_call", {"target": question.transfer_to})
        await conn.wait_tool_response("transfer")
        await speak(conn, answer, answer_text)  # "connecting you now"

    async def scenario(conn: StandInConnection) -> None:
        # Both end when the server closes the session (ClientWentAway, which the
        # stand-in takes as the scenario's normal end); anything else is an error.
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(answer_instructions(conn))
                group.create_task(answer_question(conn))
        except* ClientWentAway as went_away:
            raise ClientWentAway() from went_away

    return scenario
