# edge: Twilio's media stream over a real socket (replay, tests)
"""One media stream, seen from Twilio's side: one ``sequenceNumber`` counter for every
message it sends, a playback buffer consumed in real time, each ``mark`` echoed once
the audio before it has played, ``clear`` emptying the buffer and echoing every
pending mark at once; what Twilio would reject is recorded in
:attr:`MediaStream.problems`."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

import websockets
from websockets.asyncio.client import ClientConnection

from app.errors import TwilioWouldReject
from app.json_objects import NotAnObject, json_object
from app.telephony.captures import (
    ACCOUNT,
    FRAME_BYTES,
    FRAME_S,
    STREAM,
    ULAW_BYTES_PER_MS,
    Frame,
)


class CallListener(Protocol):
    """Told the caller's audio as it is sent, the agent's as Twilio queues it for
    playback, and when Twilio drops the queue (a ``StereoRecording`` is one)."""

    def caller(self, ulaw: bytes) -> None: ...

    def agent(self, ulaw: bytes) -> None: ...

    def clear(self) -> None: ...


@dataclass
class MediaStream:
    """One media stream, seen from Twilio's side."""

    ws: ClientConnection
    parameters: dict[str, str] | None = None  # from the TwiML: replace the capture's
    listener: CallListener | None = None
    stream_sid: str = STREAM
    received: list[tuple[float, Frame]] = field(default_factory=list)
    media_received: bytearray = field(default_factory=bytearray)
    heard: bytearray = field(default_factory=bytearray)
    marks_echoed: list[str] = field(default_factory=list)
    clears: list[float] = field(default_factory=list)
    closed_code: int | None = None
    closed_reason: str = ""
    problems: list[str] = field(default_factory=list)
    _buffer: list[bytes | str] = field(default_factory=list)  # µ-law chunks and mark names
    _sequence: int = 0
    _chunk: int = 0
    _timestamp_ms: int = 0
    _pending_echoes: list[str] = field(default_factory=list)  # marks a `clear` flushed
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

    async def send_json(self, message: Frame) -> None:
        await self.ws.send(json.dumps(message))

    async def replay(
        self, frames: list[Frame], *, realtime: float = 1.0, stop: bool = True
    ) -> bool:
        """Send captured frames; media paced at ``realtime`` × 20 ms (0 = no pacing).
        Every frame takes the next ``sequenceNumber``, as from one Twilio stream.
        Returns False if the server ended the stream first (Twilio stops sending too)."""
        began = time.monotonic()
        media_index = 0
        for frame in frames:
            event = frame.get("event")
            if event == "stop" and not stop:
                break
            if event == "media" and realtime:
                due = began + media_index * FRAME_S / realtime
                media_index += 1
                await asyncio.sleep(max(0.0, due - time.monotonic()))
            if event == "start":
                frame = self._started(frame)
            if event == "media" and isinstance(frame.get("media"), dict):
                media = frame["media"]
                self._chunk = _number(media.get("chunk"), self._chunk + 1)
                self._timestamp_ms = _number(media.get("timestamp"), self._timestamp_ms)
                if self.listener is not None:
                    self.listener.caller(base64.b64decode(str(media.get("payload", ""))))
            if "sequenceNumber" in frame:
                frame = {**frame, "sequenceNumber": self._seq()}
            try:
                await self.ws.send(json.dumps(frame))
            except websockets.ConnectionClosed:
                return False
        return True

    def _started(self, frame: Frame) -> Frame:
        self.stream_sid = str(frame.get("streamSid", self.stream_sid))
        if self.parameters is None:
            return frame
        start = {**frame.get("start", {}), "customParameters": self.parameters}
        if "callSid" in self.parameters:
            start["callSid"] = self.parameters["callSid"]
        return {**frame, "start": start}

    async def send_audio(self, ulaw: bytes, *, realtime: float = 1.0) -> bool:
        """The caller's audio as Twilio frames it (20 ms media messages, string counters,
        chunk and timestamp following on from what was sent before). False if the
        server ended the stream."""
        began = time.monotonic()
        for index, offset in enumerate(range(0, len(ulaw), FRAME_BYTES)):
            if realtime:
                await asyncio.sleep(max(0.0, began + index * FRAME_S / realtime - time.monotonic()))
            self._chunk += 1
            self._timestamp_ms += 20
            frame = ulaw[offset : offset + FRAME_BYTES]
            if self.listener is not None:
                self.listener.caller(frame)
            payload = base64.b64encode(frame).decode()
            message = {
                "event": "media",
                "sequenceNumber": self._seq(),
                "streamSid": self.stream_sid,
                "media": {
                    "track": "inbound",
                    "chunk": str(self._chunk),
                    "timestamp": str(self._timestamp_ms),
                    "payload": payload,
                },
            }
            try:
                await self.send_json(message)
            except websockets.ConnectionClosed:
                return False
        return True

    async def stop(self, call_sid: str) -> None:
        await self.send_json(
            {
                "event": "stop",
                "sequenceNumber": self._seq(),
                "streamSid": self.stream_sid,
                "stop": {"accountSid": ACCOUNT, "callSid": call_sid},
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
                if self.problems:
                    raise TwilioWouldReject("; ".join(self.problems))
                self._changed.clear()
                await self._changed.wait()

    async def wait_closed(self, timeout: float = 10.0) -> None:
        await self.wait_for(lambda: self.closed_code is not None, timeout)

    @property
    def marks_sent(self) -> int:
        """Marks the server sent (each is echoed once played or cleared)."""
        return sum(1 for _, m in self.received if m.get("event") == "mark")

    @property
    def media_messages(self) -> list[tuple[float, Frame]]:
        return [(t, m) for t, m in self.received if m.get("event") == "media"]

    @property
    def queued_ms(self) -> float:
        """Agent audio waiting in Twilio's buffer."""
        return sum(len(i) for i in self._buffer if isinstance(i, bytes)) / ULAW_BYTES_PER_MS

    async def _reader(self) -> None:
        try:
            async for raw in self.ws:
                if isinstance(raw, bytes):
                    self.problems.append("a binary frame (Twilio error 31950)")
                    continue
                try:
                    message = json_object(raw)
                except NotAnObject as error:
                    self.problems.append(f"a frame {error.reason} (31951): {raw[:100]!r}")
                    continue
                self._on_message(message)
                if self._pending_echoes:
                    for name in self._pending_echoes:
                        await self._echo_mark(name)
                    self._pending_echoes = []
                self._changed.set()
        except websockets.ConnectionClosed as closed:
            self.closed_code = closed.rcvd.code if closed.rcvd else 1006
            self.closed_reason = closed.rcvd.reason if closed.rcvd else ""
        else:
            self.closed_code = self.ws.close_code or 1000
            self.closed_reason = self.ws.close_reason or ""
        self._changed.set()

    def _on_message(self, message: Frame) -> None:
        self.received.append((time.monotonic(), message))
        event = message.get("event")
        if message.get("streamSid") != self.stream_sid:
            self.problems.append(f"a message for another stream (31951): {message}")
        if event == "media":
            media = message.get("media")
            if set(message) != {"event", "streamSid", "media"} or not isinstance(media, dict):
                self.problems.append(f"a media message of the wrong shape (31951): {message}")
                return
            if set(media) != {"payload"}:
                self.problems.append(f"extra fields in a media message (31951): {message}")
            chunk = base64.b64decode(media.get("payload", ""))
            self.media_received += chunk
            self._buffer.append(chunk)
            if self.listener is not None:
                self.listener.agent(chunk)
        elif event == "mark":
            self._buffer.append(str(message.get("mark", {}).get("name", "")))
        elif event == "clear":
            self.clears.append(time.monotonic())
            self._pending_echoes = [item for item in self._buffer if isinstance(item, str)]
            self._buffer.clear()
            if self.listener is not None:
                self.listener.clear()
        else:
            self.problems.append(f"an event Twilio does not know (31951): {message}")

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
            await asyncio.sleep(max(0.0, began + tick * FRAME_S - time.monotonic()))
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


def _number(value: object, default: int) -> int:
    try:
        return int(str(value))
    except ValueError:
        return default
