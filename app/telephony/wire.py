"""Twilio Media Streams wire format: text frame ⇄ typed event. Pure, no socket.

Inbound frames are parsed into frozen dataclasses or rejected with one
:class:`ProtocolError` carrying the reason. Outbound messages are serialised by
small functions so the exact shape Twilio accepts lives in one place (Twilio drops
calls on unknown or extra fields: error 31951).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import Any

from app.errors import ProtocolError
from app.json_objects import NotAnObject, json_object
from app.telephony.sids import is_call_sid, is_stream_sid


@dataclass(frozen=True)
class Connected:
    protocol: str
    version: str


@dataclass(frozen=True)
class Start:
    stream_sid: str
    call_sid: str
    account_sid: str
    tracks: tuple[str, ...]
    encoding: str
    sample_rate: int
    channels: int
    custom_parameters: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Media:
    stream_sid: str
    track: str
    chunk: int
    timestamp_ms: int
    payload: bytes


@dataclass(frozen=True)
class Mark:
    stream_sid: str
    name: str


@dataclass(frozen=True)
class Dtmf:
    stream_sid: str
    digit: str


@dataclass(frozen=True)
class Stop:
    stream_sid: str
    call_sid: str


TwilioEvent = Connected | Start | Media | Mark | Dtmf | Stop

MAX_PAYLOAD_BYTES = 1600
"""Largest decoded media payload accepted: 200 ms (Twilio sends 160 bytes, 20 ms, per
frame; ten times that is the margin)."""


def _obj(parent: dict[str, Any], key: str) -> dict[str, Any]:
    value = parent.get(key)
    if not isinstance(value, dict):
        raise ProtocolError(f"'{key}' must be an object")
    return value


def _str(parent: dict[str, Any], key: str, *, required: bool = True) -> str:
    value = parent.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise ProtocolError(f"'{key}' must be a string")
    return value


def _int_str(parent: dict[str, Any], key: str) -> int:
    """Twilio sends counters as strings ("chunk": "2"); accept ints too."""
    value = parent.get(key)
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ProtocolError(f"'{key}' must be a number")
    try:
        return int(value)
    except ValueError:
        raise ProtocolError(f"'{key}' must be a number") from None


def _parse_start(msg: dict[str, Any]) -> Start:
    start = _obj(msg, "start")
    fmt = _obj(start, "mediaFormat")
    tracks = start.get("tracks", ["inbound"])
    if not isinstance(tracks, list) or not all(isinstance(t, str) for t in tracks):
        raise ProtocolError("'tracks' must be a list of strings")
    params = start.get("customParameters") or {}
    if not isinstance(params, dict):
        raise ProtocolError("'customParameters' must be an object")
    encoding = _str(fmt, "encoding")
    rate = _int_str(fmt, "sampleRate")
    channels = _int_str(fmt, "channels")
    if (encoding, rate, channels) != ("audio/x-mulaw", 8000, 1):
        raise ProtocolError(f"unsupported media format {encoding} {rate} Hz x{channels}")
    stream_sid = _str(msg, "streamSid") or _str(start, "streamSid")
    call_sid = _str(start, "callSid")
    if not is_stream_sid(stream_sid):
        raise ProtocolError("'streamSid' must be MZ followed by 32 hex digits")
    if not is_call_sid(call_sid):
        raise ProtocolError("'callSid' must be CA followed by 32 hex digits")
    return Start(
        stream_sid=stream_sid,
        call_sid=call_sid,
        account_sid=_str(start, "accountSid", required=False),
        tracks=tuple(tracks),
        encoding=encoding,
        sample_rate=rate,
        channels=channels,
        custom_parameters={str(k): str(v) for k, v in params.items()},
    )


def _parse_media(msg: dict[str, Any]) -> Media:
    media = _obj(msg, "media")
    payload_b64 = _str(media, "payload")
    if len(payload_b64) > MAX_PAYLOAD_BYTES * 4 // 3 + 4:
        raise ProtocolError("media payload too large")
    try:
        payload = base64.b64decode(payload_b64, validate=True)
    except (binascii.Error, ValueError):
        raise ProtocolError("media payload is not valid base64") from None
    return Media(
        stream_sid=_str(msg, "streamSid"),
        track=_str(media, "track", required=False) or "inbound",
        chunk=_int_str(media, "chunk") if "chunk" in media else 0,
        timestamp_ms=_int_str(media, "timestamp") if "timestamp" in media else 0,
        payload=payload,
    )


def parse(frame: str | bytes) -> TwilioEvent | None:
    """Parse one text frame. Returns ``None`` for an event this server ignores.

    Raises :class:`ProtocolError` for anything malformed.
    """
    if isinstance(frame, bytes):
        raise ProtocolError("binary frame (Twilio sends text frames)")
    try:
        msg = json_object(frame)
    except NotAnObject as error:
        raise ProtocolError(f"frame is {error.reason}") from None
    event = msg.get("event")
    if event == "media":
        return _parse_media(msg)
    if event == "start":
        return _parse_start(msg)
    if event == "mark":
        return Mark(stream_sid=_str(msg, "streamSid"), name=_str(_obj(msg, "mark"), "name"))
    if event == "dtmf":
        return Dtmf(stream_sid=_str(msg, "streamSid"), digit=_str(_obj(msg, "dtmf"), "digit"))
    if event == "stop":
        stop = msg.get("stop")
        call_sid = _str(stop, "callSid", required=False) if isinstance(stop, dict) else ""
        return Stop(stream_sid=_str(msg, "streamSid"), call_sid=call_sid)
    if event == "connected":
        return Connected(
            protocol=_str(msg, "protocol", required=False),
            version=_str(msg, "version", required=False),
        )
    if not isinstance(event, str):
        raise ProtocolError("'event' must be a string")
    return None


def media_message(stream_sid: str, ulaw: bytes) -> str:
    payload = base64.b64encode(ulaw).decode("ascii")
    return json.dumps({"event": "media", "streamSid": stream_sid, "media": {"payload": payload}})


def mark_message(stream_sid: str, name: str) -> str:
    return json.dumps({"event": "mark", "streamSid": stream_sid, "mark": {"name": name}})


def clear_message(stream_sid: str) -> str:
    return json.dumps({"event": "clear", "streamSid": stream_sid})


# The softphone's extensions, never sent to Twilio (which drops calls on unknown events,
# error 31951): live transcription, and the end of each agent turn.


def transcript_message(stream_sid: str, speaker: str, text: str) -> str:
    return json.dumps(
        {
            "event": "transcript",
            "streamSid": stream_sid,
            "transcript": {"speaker": speaker, "text": text},
        }
    )


def turn_complete_message(stream_sid: str) -> str:
    return json.dumps({"event": "turnComplete", "streamSid": stream_sid})
