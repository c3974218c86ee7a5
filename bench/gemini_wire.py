"""CPU per Gemini Live audio message: the SDK's reading and writing beside this
project's (app/agent/gemini/wire.py), measured in the same run.

Run: ``python -m bench.gemini_wire``. Out: one caller frame (20 ms at 16 kHz) written
as the SDK's ``send_realtime_input(audio=...)`` builds it (pydantic model, converter,
``json.dumps``) vs the identical text built directly. In: one 40 ms agent audio
message (24 kHz) parsed by the SDK's ``receive()`` (``json.loads``, converter, pydantic
validation) vs ``json.loads`` and base64 decoding. Both sides run the SDK's public
methods over a loopback socket object, so nothing is reimplemented for the
comparison. Median of 7 runs of 2,000 messages each.
"""

from __future__ import annotations

import asyncio
import base64
import json
import statistics
import time
from collections.abc import Awaitable, Callable

import numpy as np
from google import genai
from google.genai import types

from app.agent.gemini.wire import INPUT_MIME, audio_message, model_audio

RUNS, MESSAGES = 7, 2000


class LoopbackSocket:
    """Stands in for the SDK's WebSocket: keeps what is sent, returns one frame forever."""

    def __init__(self, frame: bytes) -> None:
        self.frame = frame
        self.sent: list[str] = []

    async def send(self, text: str) -> None:
        self.sent.append(text)

    async def recv(self, decode: bool = True) -> bytes:
        return self.frame


async def per_message_us(work: Callable[[], Awaitable[object]]) -> float:
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        for _ in range(MESSAGES):
            await work()
        times.append((time.perf_counter() - start) / MESSAGES * 1e6)
    return statistics.median(times)


def agent_frame(pcm: bytes) -> bytes:
    part = {
        "inlineData": {"mimeType": "audio/pcm;rate=24000", "data": base64.b64encode(pcm).decode()}
    }
    return json.dumps({"serverContent": {"modelTurn": {"parts": [part]}}}).encode()


async def main() -> None:
    rng = np.random.default_rng(7)
    caller = rng.integers(-3000, 3000, 320).astype("<i2").tobytes()  # 20 ms at 16 kHz
    agent = rng.integers(-3000, 3000, 960).astype("<i2").tobytes()  # 40 ms at 24 kHz
    socket = LoopbackSocket(agent_frame(agent))
    client = genai.Client(api_key="not-used")  # nothing is sent anywhere
    session = genai.live.AsyncSession(api_client=client._api_client, websocket=socket)  # type: ignore[arg-type]
    received = session.receive()

    async def sdk_write() -> None:
        await session.send_realtime_input(audio=types.Blob(data=caller, mime_type=INPUT_MIME))

    async def own_write() -> None:
        await socket.send(audio_message(caller))

    async def sdk_read() -> bytes | None:
        message = await anext(received)
        return message.data

    async def own_read() -> list[bytes] | None:
        return model_audio(json.loads(await socket.recv(decode=False)))

    await sdk_write()
    await own_write()
    assert json.loads(socket.sent[0]) == json.loads(socket.sent[1])  # the same message
    assert await sdk_read() == agent and await own_read() == [agent]
    rows = [
        (
            "caller frame out (20 ms)",
            await per_message_us(sdk_write),
            await per_message_us(own_write),
        ),
        ("agent audio in (40 ms)", await per_message_us(sdk_read), await per_message_us(own_read)),
    ]
    print(f"{'message':<28}{'SDK µs':>10}{'this project µs':>18}{'ratio':>8}")
    print("-" * 64)
    for name, sdk, own in rows:
        print(f"{name:<28}{sdk:>10.1f}{own:>18.1f}{sdk / own:>7.1f}×")


if __name__ == "__main__":
    asyncio.run(main())
