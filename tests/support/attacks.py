"""What the attack tests share: a running ``python -m app`` in production or development
shape (the echo agent: no Gemini needed), raw sockets, and a short echo call."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import websockets

from app.telephony.captures import TWILIO_SILENCE, build_capture
from app.telephony.emulator import TwilioEmulator
from app.telephony.media_stream import MediaStream
from tests.support.process import AppProcess, app_process
from tests.support.server import AUTH_TOKEN, PUBLIC_URL, process_env

__all__ = ["AUTH_TOKEN", "PUBLIC_URL"]

TOKEN = "attack+test/operator=token-0123456789abcdef"  # characters that encode differently
CALL = "CA" + "ab" * 16
OTHER_CALL = "CA" + "cd" * 16
STREAM = "MZ" + "ef" * 16
LOG_LINE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR) \S+: ")


def production(tmp: Path, port: int, **extra: str) -> dict[str, str]:
    """Signatures on, operator token, records; the echo agent (no Gemini needed)."""
    return process_env(
        AGENT="echo",
        HOST="127.0.0.1",
        PORT=str(port),
        TWILIO_AUTH_TOKEN=AUTH_TOKEN,
        PUBLIC_URL=PUBLIC_URL,
        OPERATOR_TOKEN=TOKEN,
        CALL_RECORDS_PATH=str(tmp / "calls.sqlite3"),
        GREETING="",
        **extra,
    )


def development(tmp: Path, port: int, **extra: str) -> dict[str, str]:
    """No signatures (ALLOW_UNSIGNED_REQUESTS), no HOST: what a developer runs."""
    return process_env(
        AGENT="echo",
        ALLOW_UNSIGNED_REQUESTS="true",
        PORT=str(port),
        CALL_RECORDS_PATH="",
        GREETING="",
        **extra,
    )


@asynccontextmanager
async def server(env: dict[str, str], tmp: Path) -> AsyncIterator[AppProcess]:
    async with app_process(env, tmp, int(env["PORT"])) as running:
        yield running
    assert "Traceback" not in running.log, running.log


def start_frame(call_sid: str, stream_sid: str, **params: str) -> dict[str, Any]:
    start = build_capture(b"", {"callSid": call_sid, **params}, stop=False)[1]
    start["streamSid"] = start["start"]["streamSid"] = stream_sid
    start["start"]["callSid"] = call_sid
    return start


async def raw_stream(base: str, path: str = "/media-stream", **headers: str) -> Any:
    return await websockets.connect(
        base.replace("http://", "ws://") + path, additional_headers=headers
    )


async def close_code(ws: Any, timeout: float = 15.0) -> tuple[int, str]:
    async with asyncio.timeout(timeout):
        try:
            while True:
                await ws.recv()
        except websockets.ConnectionClosed as closed:
            return (closed.rcvd.code, closed.rcvd.reason) if closed.rcvd else (1006, "")


async def echo_call(twilio: TwilioEmulator, call_sid: str, seconds: float = 1.0) -> MediaStream:
    """A short call: the webhook, the stream, some audio, the caller hangs up."""
    stream = await twilio.open_stream(await twilio.incoming_call(call_sid))
    await stream.replay(build_capture(b"", {"callSid": call_sid}, stop=False)[:2])
    await stream.send_audio(TWILIO_SILENCE * int(seconds * 50), realtime=0)
    await stream.stop(call_sid)
    await stream.wait_closed()
    return stream


def ws_frame(message: dict[str, Any]) -> bytes:
    """One masked text frame, as a client sends it."""
    data = json.dumps(message).encode()
    mask = os.urandom(4)
    size = len(data)
    head = bytes([0x81]) + (
        bytes([0x80 | size]) if size < 126 else bytes([0x80 | 126]) + size.to_bytes(2, "big")
    )
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data))


def deaf_stream(
    port: int, path: str, headers: dict[str, str], frames: list[dict[str, Any]]
) -> socket.socket:
    """A WebSocket client that sends ``frames`` and then never reads again: a tiny receive
    window, no pong for any ping, no answer to a close."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    answer = sock.recv(12)
    assert answer == b"HTTP/1.1 101", answer
    for frame in frames:
        sock.sendall(ws_frame(frame))
    return sock
