"""Replay a captured media stream through the server; write what the caller heard.

``python -m app replay capture.json --out reply.wav`` plays Twilio's part (the
:mod:`app.telephony.emulator`) with a captured media-stream JSON (a list of the frames
Twilio sent): it asks the webhook for TwiML (signed when TWILIO_AUTH_TOKEN is set),
opens the stream with the TwiML's parameters, sends the caller's frames in real
time, returns Twilio's marks as the reply plays, and records the call the way Twilio
plays it (queued audio, ``clear`` honoured) into a stereo WAV: the caller on the left,
the agent on the right. Against a running server (``--server URL``) or one started in
this process with the current settings (and so their Gemini endpoint).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import uvicorn
import websockets

from app.call.outcome import Outcome, outcome_of
from app.errors import ReplayError, TwilioWouldReject, TwimlError, WebhookRefused
from app.settings import Settings
from app.sinks.recording import StereoRecording
from app.telephony.captures import ULAW_BYTES_PER_MS, Frame, with_call_sid
from app.telephony.emulator import TwilioEmulator

HANG_UP_WAIT_S = 5.0  # after the caller's `stop`, how long the server may take to close


@dataclass(frozen=True)
class ReplayResult:
    call_sid: str  # the call the replay made
    heard_s: float  # agent audio the caller heard
    recorded_s: float  # length of the WAV
    ended_by_server: bool  # the server closed the stream before the caller hung up
    close_code: int | None
    close_reason: str

    @property
    def outcome(self) -> Outcome | None:
        """How the server says the call ended (its close reason), if it said."""
        return outcome_of(self.close_reason)


def new_call_sid() -> str:
    """A CallSid of Twilio's shape that no real call has (they are random too)."""
    return "CA" + secrets.token_hex(16)


def call_sid_of(frames: list[Frame]) -> str:
    start: dict[str, Any] = next(f for f in frames if f.get("event") == "start")["start"]
    return str(start.get("callSid", ""))


def load_capture(path: Path) -> list[Frame]:
    """The capture's frames, or :class:`ReplayError` saying what is wrong with the file."""
    try:
        frames = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ReplayError(f"cannot read the capture {path} ({error.strerror or error})") from None
    except (ValueError, RecursionError):
        raise ReplayError(
            f"{path} is not JSON: a capture is a JSON list of Twilio frames"
        ) from None
    if not isinstance(frames, list) or not all(isinstance(f, dict) for f in frames):
        raise ReplayError(f"{path} is not a JSON list of Twilio frames (objects)")
    start = next((f for f in frames if f.get("event") == "start"), None)
    if start is None or not isinstance(start.get("start"), dict):
        raise ReplayError(f"{path} has no `start` frame, so it cannot be a media stream")
    return frames


async def replay(
    settings: Settings,
    frames: list[Frame],
    out: Path,
    server: str | None,
    tail_s: float = 8.0,
    call_sid: str | None = None,
) -> ReplayResult:
    """Play the capture through ``server`` (or a server started here) as the call
    ``call_sid`` (default: the capture's); raises :class:`ReplayError` with one sentence
    for anything that stops it."""
    if call_sid is not None:
        frames = with_call_sid(frames, call_sid)
    try:
        recording = StereoRecording(out)
    except OSError as error:
        raise ReplayError(f"cannot write {out} ({error.strerror or error})") from None
    try:
        if server is None:
            async with _local_server(settings) as local:
                return await _replay(settings, frames, recording, local, tail_s)
        parts = urlsplit(server)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ReplayError(f"--server {server!r} must be a URL like http://127.0.0.1:8000")
        return await _replay(settings, frames, recording, server.rstrip("/"), tail_s)
    finally:
        recording.close()


@contextlib.asynccontextmanager
async def _local_server(settings: Settings) -> AsyncIterator[str]:
    from app.server.app import create_app  # the server's own wiring, settings checked

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    running = uvicorn.Server(config)
    task = asyncio.create_task(running.serve())
    while not running.started:
        if task.done():
            task.result()
            raise ReplayError(f"the local server could not start on port {port}")
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        running.should_exit = True
        await task


async def _replay(
    settings: Settings,
    frames: list[Frame],
    recording: StereoRecording,
    server: str,
    tail_s: float,
) -> ReplayResult:
    start: dict[str, Any] = next(f for f in frames if f.get("event") == "start")["start"]
    call_sid = call_sid_of(frames)
    token = settings.twilio_auth_token.get_secret_value() if settings.twilio_auth_token else None
    twilio = TwilioEmulator(server, settings.public_base or server, token)
    parameters = start.get("customParameters") or {}
    try:
        instruction = await twilio.incoming_call(
            call_sid, caller=str(parameters.get("from", "")), called=str(parameters.get("to", ""))
        )
        stream = await twilio.open_stream(instruction, listener=recording)
    except (httpx.HTTPError, OSError) as error:
        raise ReplayError(f"cannot reach the server at {server} ({error})") from None
    except WebhookRefused as refused:
        hint = " (TWILIO_AUTH_TOKEN and PUBLIC_URL must be the server's)" * (refused.status == 403)
        raise ReplayError(f"{refused}{hint}") from None
    except TwimlError as error:
        raise ReplayError(str(error)) from None
    except websockets.InvalidStatus as error:
        status = error.response.status_code
        raise ReplayError(f"the server refused the media stream (HTTP {status})") from None
    try:
        talking = await stream.replay([f for f in frames if f.get("event") != "stop"])
        if talking:  # the caller listens to the reply, then hangs up
            talking = await stream.send_audio(b"\xff" * int(tail_s * 1000 * ULAW_BYTES_PER_MS))
        if talking:
            with contextlib.suppress(websockets.ConnectionClosed):
                await stream.stop(call_sid)
        with contextlib.suppress(TimeoutError):
            await stream.wait_closed(HANG_UP_WAIT_S)
    except TwilioWouldReject:
        pass  # reported below, with everything else it sent
    finally:
        await stream.close()
    if stream.problems:
        raise ReplayError(f"the server sent what Twilio would reject: {stream.problems[0]}")
    return ReplayResult(
        call_sid=call_sid,
        heard_s=len(stream.heard) / (1000 * ULAW_BYTES_PER_MS),
        recorded_s=recording.seconds,
        ended_by_server=not talking,
        close_code=stream.closed_code,
        close_reason=stream.closed_reason,
    )
