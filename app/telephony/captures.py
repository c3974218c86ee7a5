"""Captured media streams: a JSON list of the frames Twilio sent, and Twilio's exact
framing for new ones (the tests' captures, ``python -m app replay``'s input)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

ULAW_BYTES_PER_MS = 8
FRAME_BYTES = 160  # Twilio's 20 ms frames
FRAME_S = 0.020
ULAW_SILENCE = b"\xff"
TWILIO_SILENCE = bytes([0x7F, 0xFF]) * (FRAME_BYTES // 2)  # what a real quiet line sends
ACCOUNT = "AC" + "0" * 32
CALL = "CA" + "f1" * 16
STREAM = "MZ" + "a7" * 16
Frame = dict[str, Any]


def load_capture(path: Path) -> list[Frame]:
    """A captured media stream: a JSON list of the frames Twilio sent."""
    frames: list[Frame] = json.loads(path.read_text(encoding="utf-8"))
    return frames


def capture_ulaw(frames: list[Frame]) -> bytes:
    return b"".join(
        base64.b64decode(f["media"]["payload"]) for f in frames if f.get("event") == "media"
    )


def build_capture(
    ulaw: bytes, params: dict[str, str] | None = None, *, stop: bool = True
) -> list[Frame]:
    """Twilio's exact framing: connected, start, one media per 20 ms (160 bytes), stop."""
    params = params or {"callSid": CALL, "from": "+15550100001", "to": "+15550100002"}
    frames: list[Frame] = [
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


def with_call_sid(frames: list[Frame], call_sid: str) -> list[Frame]:
    """A copy of the capture whose frames name ``call_sid`` wherever they name a call
    (the ``start``, its custom parameters, the ``stop``): one capture, replayed many
    times, then makes calls of their own."""
    copied: list[Frame] = json.loads(json.dumps(frames))
    for frame in copied:
        for key in ("start", "stop"):
            body = frame.get(key)
            if isinstance(body, dict) and "callSid" in body:
                body["callSid"] = call_sid
            parameters = body.get("customParameters") if isinstance(body, dict) else None
            if isinstance(parameters, dict) and "callSid" in parameters:
                parameters["callSid"] = call_sid
    return copied
