"""A Twilio-like client: signed webhook, TwiML parsing, and a media stream with
Twilio's playback buffer (real-time consumption, marks echoed when reached, ``clear``
empties the buffer and echoes every pending mark).
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import websockets
from twilio.request_validator import RequestValidator
from websockets.asyncio.client import ClientConnection, connect

ULAW_BYTES_PER_MS = 8
FRAME_BYTES = 160
ACCOUNT = "AC" + "0" * 32
CALL = "CA" + "f1" * 16
STREAM = "MZ" + "a7" * 16
ULAW_SILENCE = b"\xff"


@dataclass(frozen=True)
class StreamInstruction:
    url: str
    parameters: dict[str, str]
    action: str | None
    after_connect: list[str]


def parse_connect_twiml(body: str) -> StreamInstruction:
    root = ET.fromstring(body)
    assert root.tag == "Response"
    connect_el = root.find("Connect")
    assert connect_el is not None, body
    stream = connect_el.find("Stream")
    assert stream is not None, body
    params = {p.attrib["name"]: p.attrib["value"] for p in stream.findall("Parameter")}
    after = [child.tag for child in root][list(root).index(connect_el) + 1 :]
    return StreamInstruction(stream.attrib["url"], params, connect_el.attrib.get("action"), after)


class TwilioClient:
    """Plays Twilio's side against a server at ``local_base`` (http://127.0.0.1:port)."""

    def __init__(self, local_base: str, public_url: str, auth_token: str | None) -> None:
        self.local_base = local_base.rstrip("/")
        self.public_url = public_url.rstrip("/")
        self.validator = RequestValidator(auth_token) if auth_token else None

    def _sign(self, url: str, params: dict[str, str]) -> dict[str, str]:
        if self.validator is None:
            return {}
        return {"X-Twilio-Signature": self.validator.compute_signature(url, params)}

    async def post(
        self, path: str, form: dict[str, str], *, sign: bool = True, signature: str | None = None
    ) -> httpx.Response:
        headers = self._sign(self.public_url + path, form) if sign else {}
        if signature is not None:
            headers = {"X-Twilio-Signature": signature}
        async with httpx.AsyncClient() as http:
            return await http.post(self.local_base + path, data=form, headers=headers)

    async def incoming_call(
        self, call_sid: str, caller: str = "+15550100001", called: str = "+15550100002"
    ) -> StreamInstruction:
        form = {"CallSid": call_sid, "From": caller, "To": called, "AccountSid": "AC" + "0" * 32}
        response = await self.post("/incoming-call", form)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("application/xml")
        return parse_connect_twiml(response.text)

    async def open_stream(
        self, target: StreamInstruction | str, *, sign: bool = True
    ) -> MediaStream:
        """Connect as Twilio does for a <Stream>; with the TwiML's instruction, the
        stream's `start` carries its <Parameter>s, as Twilio's does."""
        public_stream_url = target if isinstance(target, str) else target.url
        path = urlsplit(public_stream_url).path
        local = "ws://" + self.local_base.removeprefix("http://") + path
        headers = self._sign(public_stream_url, {}) if sign else {}
        ws = await connect(local, additional_headers=headers)
        parameters = None if isinstance(target, str) else dict(target.parameters)
        return MediaStream(ws, parameters=parameters)


@dataclass
class MediaStream:
    """One media stream, seen from Twilio's side."""

    ws: ClientConnection
    parameters: dict[str, str] | None = None  # from the TwiML: replace the capture's
    stream_sid: str = "MZ" + "a7" * 16
    received: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    media_received: bytearray = field(default_factory=bytearray)
    heard: bytearray = field(default_factory=bytearray)
    marks_echoed: list[str] = field(default_factory=list)
    clears: list[float] = field(default_factory=list)
    closed_code: int | None = None
    errors: list[BaseException] = field(default_factory=list)
    _buffer: list[bytes | str] = field(default_factory=list)  # µ-law chunks and mark names
    _sequence: int = 0
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self._tasks = [
            asyncio.create_task(self._reader()),
            asyncio.create_task(self._player()),
        ]

    def _seq(self) -> str:
        self._sequence += 1
        return str(self._sequence)

    async def send_json(self, message: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(message))

    async def replay(
        self, frames: list[dict[str, Any]], *, realtime: float = 1.0, stop: bool = True
    ) -> None:
        """Send captured frames; media paced at ``realtime`` × 20 ms (0 = no pacing)."""
        began = time.monotonic()
        media_index = 0
        for frame in frames:
            if frame.get("event") == "stop" and not stop:
                break
            if frame.get("event") == "media" and realtime:
                due = began + media_index * 0.020 / realtime
                media_index += 1
                await asyncio.sleep(max(0.0, due - time.monotonic()))
            if frame.get("event") == "start":
                self.stream_sid = frame["streamSid"]
                if self.parameters is not None:
                    frame = {
                        **frame,
                        "start": {**frame["start"], "customParameters": self.parameters},
                    }
                    if "callSid" in self.parameters:
                        frame["start"]["callSid"] = self.parameters["callSid"]
            try:
                await self.ws.send(json.dumps(frame))
            except websockets.ConnectionClosed:
                return  # the server ended the stream; Twilio stops sending too

    async def stop(self, call_sid: str) -> None:
        await self.send_json(
            {
                "event": "stop",
                "sequenceNumber": self._seq(),
                "streamSid": self.stream_sid,
                "stop": {"accountSid": "AC" + "0" * 32, "callSid": call_sid},
            }
        )

    async def close(self) -> None:
        await self.ws.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def wait_for(self, predicate: Any, timeout: float = 10.0) -> None:
        async with asyncio.timeout(timeout):
            while not predicate():
                assert not self.errors, self.errors
                self._changed.clear()
                await self._changed.wait()

    async def wait_closed(self, timeout: float = 10.0) -> None:
        await self.wait_for(lambda: self.closed_code is not None, timeout)

    @property
    def marks_sent(self) -> int:
        """Marks the server sent (each is echoed once played or cleared)."""
        return sum(1 for _, m in self.received if m.get("event") == "mark")

    @property
    def media_messages(self) -> list[tuple[float, dict[str, Any]]]:
        return [(t, m) for t, m in self.received if m.get("event") == "media"]

    async def _reader(self) -> None:
        try:
            async for raw in self.ws:
                assert isinstance(raw, str), "Twilio rejects binary frames (31950)"
                message = json.loads(raw)
                now = time.monotonic()
                self.received.append((now, message))
                event = message.get("event")
                assert message.get("streamSid") == self.stream_sid, message
                if event == "media":
                    assert set(message) == {"event", "streamSid", "media"}, message
                    assert set(message["media"]) == {"payload"}, message
                    chunk = base64.b64decode(message["media"]["payload"])
                    self.media_received += chunk
                    self._buffer.append(chunk)
                elif event == "mark":
                    self._buffer.append(message["mark"]["name"])
                elif event == "clear":
                    self.clears.append(now)
                    pending = [item for item in self._buffer if isinstance(item, str)]
                    self._buffer.clear()
                    for name in pending:
                        await self._echo_mark(name)
                else:
                    raise AssertionError(f"Twilio would reject {message}")
                self._changed.set()
        except websockets.ConnectionClosed as closed:
            self.closed_code = closed.rcvd.code if closed.rcvd else 1006
        except AssertionError as error:  # a message Twilio would reject
            self.errors.append(error)
        else:
            self.closed_code = self.ws.close_code or 1000
        self._changed.set()

    async def _echo_mark(self, name: str) -> None:
        self.marks_echoed.append(name)
        await self.send_json(
            {
                "event": "mark",
                "sequenceNumber": self._seq(),
                "streamSid": self.stream_sid,
                "mark": {"name": name},
            }
        )

    async def _player(self) -> None:
        """Consume the buffer in real time, 20 ms at a time; echo marks as reached."""
        began = time.monotonic()
        tick = 0
        while True:
            tick += 1
            await asyncio.sleep(max(0.0, began + tick * 0.020 - time.monotonic()))
            budget = FRAME_BYTES
            while self._buffer and (budget > 0 or isinstance(self._buffer[0], str)):
                item = self._buffer[0]
                if isinstance(item, str):
                    self._buffer.pop(0)
                    try:
                        await self._echo_mark(item)
                    except websockets.ConnectionClosed:
                        return
                    continue
                take = item[:budget]
                self.heard += take
                budget -= len(take)
                if len(take) == len(item):
                    self._buffer.pop(0)
                else:
                    self._buffer[0] = item[len(take) :]
            self._changed.set()


def load_capture(path: Path) -> list[dict[str, Any]]:
    frames: list[dict[str, Any]] = json.loads(path.read_text())
    return frames


def capture_ulaw(frames: list[dict[str, Any]]) -> bytes:
    return b"".join(
        base64.b64decode(f["media"]["payload"]) for f in frames if f.get("event") == "media"
    )


def build_capture(
    ulaw: bytes, params: dict[str, str] | None = None, *, stop: bool = True
) -> list[dict[str, Any]]:
    """Twilio's exact framing: connected, start, one media per 20 ms (160 bytes), stop."""
    params = params or {"callSid": CALL, "from": "+15550100001", "to": "+15550100002"}
    frames: list[dict[str, Any]] = [
        {"event": "connected", "protocol": "Call", "version": "1.0.0"},
        {
            "event": "start",
            "sequenceNumber": "1",
            "streamSid": STREAM,
            "start": {
                "accountSid": ACCOUNT,
                "streamSid": STREAM,
                "callSid": CALL,
                "tracks": ["inbound"],
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                "customParameters": params,
            },
        },
    ]
    ulaw += ULAW_SILENCE * (-len(ulaw) % FRAME_BYTES)
    for chunk, offset in enumerate(range(0, len(ulaw), FRAME_BYTES), start=1):
        frames.append(
            {
                "event": "media",
                "sequenceNumber": str(len(frames)),
                "streamSid": STREAM,
                "media": {
                    "track": "inbound",
                    "chunk": str(chunk),
                    "timestamp": str((chunk - 1) * 20),
                    "payload": base64.b64encode(ulaw[offset : offset + FRAME_BYTES]).decode(),
                },
            }
        )
    if stop:
        frames.append(
            {
                "event": "stop",
                "sequenceNumber": str(len(frames)),
                "streamSid": STREAM,
                "stop": {"accountSid": ACCOUNT, "callSid": CALL},
            }
        )
    return frames
