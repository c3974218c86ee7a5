# edge: an asyncio agent (repeats the caller)
"""Echo mode (AGENT=echo): a telephony self-test with no Gemini at all.

The "agent" listens to the caller and, once they stop talking (a local energy
detector: 700 ms below the speech level after at least 200 ms of speech), plays back
what they said. It proves the number, the webhook, signatures, the stream, both audio
directions and the playback buffer work before any money is spent on a model.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import numpy as np
import soxr

from app.agent.events import AgentAudio, AgentEvent, HistoryTurn, TurnComplete
from app.audio.convert import GEMINI_INPUT_RATE, GEMINI_OUTPUT_RATE, is_speech
from app.errors import AgentSessionError

FRAME_MS = 20
MIN_SPEECH_MS = 200
END_SILENCE_MS = 700
MAX_UTTERANCE_MS = 15_000


class EchoSession:
    def __init__(self) -> None:
        self._queue: asyncio.Queue[AgentEvent | None] = asyncio.Queue()
        self._utterance: list[bytes] = []
        self._speech_ms = 0.0
        self._silence_ms = 0.0

    async def send_audio(self, pcm16k: bytes) -> None:
        ms = len(pcm16k) / 32
        if is_speech(pcm16k):
            self._utterance.append(pcm16k)
            self._speech_ms += ms
            self._silence_ms = 0.0
        elif self._utterance:
            self._utterance.append(pcm16k)  # keep the pauses inside the sentence
            self._silence_ms += ms
        total = sum(len(p) for p in self._utterance) / 32
        done = self._silence_ms >= END_SILENCE_MS or total >= MAX_UTTERANCE_MS
        if self._utterance and done:
            if self._speech_ms >= MIN_SPEECH_MS:
                self._play_back()
            self._utterance, self._speech_ms, self._silence_ms = [], 0.0, 0.0

    def _play_back(self) -> None:
        pcm = np.frombuffer(b"".join(self._utterance), dtype="<i2")
        # An arbitrary rate change (16k -> 24k) in one go: soxr's job.
        resampled = soxr.resample(pcm, GEMINI_INPUT_RATE, GEMINI_OUTPUT_RATE, quality="HQ")
        audio = np.clip(resampled, -32768, 32767).astype("<i2").tobytes()
        for start in range(0, len(audio), 48 * 40 * 2):
            self._queue.put_nowait(AgentAudio(audio[start : start + 48 * 40 * 2]))
        self._queue.put_nowait(TurnComplete())

    async def send_text(self, text: str) -> None:
        """Greetings and instructions mean nothing to an echo."""

    async def send_tool_response(
        self, call_id: str, name: str, response: dict[str, Any], scheduling: str | None
    ) -> None:
        """There are no tool calls in echo mode."""

    async def events(self) -> AsyncGenerator[AgentEvent, None]:
        while (event := await self._queue.get()) is not None:
            yield event
        raise AgentSessionError("the echo session was closed", retryable=True)

    async def close(self) -> None:
        self._queue.put_nowait(None)


class EchoConnector:
    @asynccontextmanager
    async def connect(
        self, resume_handle: str | None = None, history: Sequence[HistoryTurn] = ()
    ) -> AsyncIterator[EchoSession]:
        yield EchoSession()
