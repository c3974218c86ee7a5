"""Replay a captured media stream through the server; write what the caller heard.

``python -m app replay capture.json --out reply.wav`` plays Twilio's part with a
captured media-stream JSON (a list of the frames Twilio sent): it asks the webhook for
TwiML (signed when TWILIO_AUTH_TOKEN is set), opens the stream with the TwiML's
parameters, sends the caller's frames in real time, and records the reply the way
Twilio plays it (queued audio, `clear` honoured) into a stereo WAV: the caller on the
left, the agent on the right. Against a running server (``--server URL``) or one
started in this process with the current settings (and so their Gemini endpoint).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import socket
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import httpx
import uvicorn
import websockets
from twilio.request_validator import RequestValidator

from app.recording import StereoRecording
from app.security import websocket_url
from app.settings import Settings

SILENCE = b"\xff" * 160


def load_capture(path: Path) -> list[dict[str, Any]]:
    frames: list[dict[str, Any]] = json.loads(path.read_text())
    return frames


async def replay(
    settings: Settings,
    frames: list[dict[str, Any]],
    out: Path,
    server: str | None,
    tail_s: float = 8.0,
) -> float:
    """Returns the seconds of agent audio the caller heard."""
    if server is not None:
        return await _replay(settings, frames, out, server.rstrip("/"), tail_s)
    from app.web import create_app

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    running = uvicorn.Server(config)
    task = asyncio.create_task(running.serve())
    while not running.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    try:
        return await _replay(settings, frames, out, f"http://127.0.0.1:{port}", tail_s)
    finally:
        running.should_exit = True
        await task


async def _replay(
    settings: Settings, frames: list[dict[str, Any]], out: Path, server: str, tail_s: float
) -> float:
    start = next(f for f in frames if f.get("event") == "start")
    call_sid = start["start"]["callSid"]
    public = settings.public_base or server
    validator = (
        RequestValidator(settings.twilio_auth_token.get_secret_value())
        if settings.twilio_auth_token
        else None
    )
    form = {
        "CallSid": call_sid,
        "From": start["start"].get("customParameters", {}).get("from", ""),
        "To": "",
        "Direction": "inbound",
    }
    headers = (
        {"X-Twilio-Signature": validator.compute_signature(public + "/incoming-call", form)}
        if validator
        else {}
    )
    async with httpx.AsyncClient() as http:
        answer = await http.post(server + "/incoming-call", data=form, headers=headers)
    answer.raise_for_status()
    stream = ET.fromstring(answer.text).find("Connect/Stream")
    if stream is None:
        raise RuntimeError(f"the webhook did not connect a stream: {answer.text}")
    params = {p.attrib["name"]: p.attrib["value"] for p in stream.iter("Parameter")}
    signed = websocket_url(public, "/media-stream")
    ws_headers = (
        {"X-Twilio-Signature": validator.compute_signature(signed, {})} if validator else {}
    )
    local = "ws://" + server.split("://", 1)[1] + "/media-stream"
    recording = StereoRecording(out)
    heard = 0
    async with websockets.connect(local, additional_headers=ws_headers, compression=None) as ws:

        async def listen() -> None:
            nonlocal heard
            async for raw in ws:
                message = json.loads(raw)
                if message.get("event") == "media":
                    audio = base64.b64decode(message["media"]["payload"])
                    recording.agent(audio)
                    heard += len(audio)
                elif message.get("event") == "clear":
                    recording.clear()

        listener = asyncio.create_task(listen())
        began = time.monotonic()
        sent = 0
        for frame in frames:
            event = frame.get("event")
            if event == "stop":
                continue
            if event == "start":
                frame = {**frame, "start": {**frame["start"], "customParameters": params}}
            if event == "media":
                await asyncio.sleep(max(0.0, began + sent * 0.02 - time.monotonic()))
                recording.caller(base64.b64decode(frame["media"]["payload"]))
                sent += 1
            await ws.send(json.dumps(frame))
        for _ in range(int(tail_s / 0.02)):  # the caller listens to the reply
            await asyncio.sleep(max(0.0, began + sent * 0.02 - time.monotonic()))
            recording.caller(SILENCE)
            sent += 1
        await ws.send(
            json.dumps(
                {"event": "stop", "streamSid": start["streamSid"], "stop": {"callSid": call_sid}}
            )
        )
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError, websockets.ConnectionClosed):
            await listener
    recording.close()
    return heard / 8000
