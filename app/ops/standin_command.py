"""``python -m app gemini-standin``: the tests' Gemini Live stand-in, for anyone.

It speaks the Live API's wire protocol over TLS on this machine (with a throw-away
CA), so the server can be run against it with the real SDK and no Google account:
``GEMINI_BASE_URL``, ``SSL_CERT_FILE`` and ``GEMINI_API_KEY`` as it prints them. Its
"model" answers each instruction it is sent (the greeting, an operator's ``say``)
with a short chime, or with your own recording (``--reply reply.wav``), and repeats
back what the caller says once they pause (the echo agent's detector), with
transcripts. It also answers the models list, so ``check --online`` can be tried.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

from app.agent.echo import EchoSession
from app.agent.events import AgentAudio, TurnComplete
from app.audio.convert import GEMINI_OUTPUT_RATE
from app.ops.gemini_standin import GeminiStandIn, Scenario, StandInConnection
from app.ops.wav_capture import read_wav

DEFAULT_PORT = 9443
DEFAULT_KEY = "standin-key"
FRAME_BYTES = 640  # 20 ms at 16 kHz, 16-bit
GREETING_TEXT = "(the local Gemini stand-in: say something and it repeats it)"


def chime(seconds: float = 0.35) -> bytes:
    """Two short tones at 24 kHz, quiet enough for a phone line."""
    t = np.arange(int(GEMINI_OUTPUT_RATE * seconds)) / GEMINI_OUTPUT_RATE
    tone = np.where(t < seconds / 2, np.sin(2 * np.pi * 660 * t), np.sin(2 * np.pi * 880 * t))
    fade = np.minimum(1, np.minimum(t, seconds - t) * 50)
    pcm: bytes = (6000 * tone * fade).astype("<i2").tobytes()
    return pcm


def conversation(reply_pcm24k: bytes) -> Scenario:
    """Each text (an instruction) gets ``reply_pcm24k``; each utterance is repeated."""

    async def scenario(conn: StandInConnection) -> None:
        echo = EchoSession()
        forwarding = asyncio.create_task(_forward(echo, conn))
        try:
            await _listen(conn, echo, reply_pcm24k)
        finally:
            forwarding.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await forwarding

    return scenario


async def _listen(conn: StandInConnection, echo: EchoSession, reply: bytes) -> None:
    answered, heard = 0, 0

    def more() -> Callable[[], bool]:
        return lambda: len(conn.texts) > answered or len(conn.audio) - heard >= FRAME_BYTES

    while True:
        await conn.wait_for(more(), timeout=24 * 3600)
        while len(conn.texts) > answered:
            answered += 1
            await conn.transcript("agent", GREETING_TEXT)
            await conn.send_audio(reply)
            await conn.turn_complete()
        while len(conn.audio) - heard >= FRAME_BYTES:
            await echo.send_audio(bytes(conn.audio[heard : heard + FRAME_BYTES]))
            heard += FRAME_BYTES
        del conn.audio[:heard]  # a long call keeps nothing it has passed on
        heard = 0


async def _forward(echo: EchoSession, conn: StandInConnection) -> None:
    async for event in echo.events():
        if isinstance(event, AgentAudio):
            await conn.send_audio(event.pcm)
        elif isinstance(event, TurnComplete):
            await conn.transcript("agent", "(your words, repeated)")
            await conn.turn_complete()


async def serve_standin(
    directory: Path,
    host: str,
    port: int,
    api_key: str,
    reply: Path | None,
    ready: Callable[[GeminiStandIn], None],
) -> None:
    """Run until cancelled; ``ready`` is told once it listens."""
    answer = read_wav(reply, GEMINI_OUTPUT_RATE) if reply is not None else chime()
    standin = GeminiStandIn(directory, conversation(answer), api_key, host=host, port=port)
    async with standin:
        ready(standin)
        await asyncio.Event().wait()


def instructions(standin: GeminiStandIn) -> str:
    return "\n".join(
        [
            f"Gemini Live stand-in listening on {standin.base_url} (Ctrl-C stops it).",
            "Run the server against it with these settings (in .env or the environment):",
            f"  GEMINI_BASE_URL={standin.base_url}",
            f"  SSL_CERT_FILE={standin.ca_file}",
            f"  GEMINI_API_KEY={standin.api_key}",
        ]
    )
