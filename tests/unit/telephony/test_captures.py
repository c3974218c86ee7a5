"""Captures: Twilio's framing of new ones, and one capture replayed as a call of its own."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from app.telephony.captures import (
    CALL,
    FRAME_BYTES,
    Frame,
    build_capture,
    capture_ulaw,
    load_capture,
    with_call_sid,
)

OTHER = "CA" + "2b" * 16
ACCOUNT = "AC00000000000000000000000000000000"
TWILIO_CALL = "CAf1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1"
STREAM = "MZa7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7"
DEFAULTS = {"callSid": TWILIO_CALL, "from": "+15550100001", "to": "+15550100002"}
CONNECTED = {"event": "connected", "protocol": "Call", "version": "1.0.0"}


def start_frame(params: dict[str, str]) -> Frame:
    """The ``start`` frame Twilio sends first, written out in full."""
    return {
        "event": "start",
        "sequenceNumber": "1",
        "streamSid": STREAM,
        "start": {
            "accountSid": ACCOUNT,
            "streamSid": STREAM,
            "callSid": TWILIO_CALL,
            "tracks": ["inbound"],
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
            "customParameters": params,
        },
    }


def media_frame(sequence: str, chunk: str, timestamp: str, audio: bytes) -> Frame:
    return {
        "event": "media",
        "sequenceNumber": sequence,
        "streamSid": STREAM,
        "media": {
            "track": "inbound",
            "chunk": chunk,
            "timestamp": timestamp,
            "payload": base64.b64encode(audio).decode(),
        },
    }


def stop_frame(sequence: str) -> Frame:
    return {
        "event": "stop",
        "sequenceNumber": sequence,
        "streamSid": STREAM,
        "stop": {"accountSid": ACCOUNT, "callSid": TWILIO_CALL},
    }


def test_a_new_capture_is_framed_as_twilio_frames_it() -> None:
    frames = build_capture(b"\x01" * (FRAME_BYTES + 1))
    assert [f["event"] for f in frames] == ["connected", "start", "media", "media", "stop"]
    assert capture_ulaw(frames) == b"\x01" * (FRAME_BYTES + 1) + b"\xff" * (FRAME_BYTES - 1)
    assert [f["sequenceNumber"] for f in frames[1:]] == ["1", "2", "3", "4"]


def test_every_frame_of_a_new_capture_is_exactly_twilios() -> None:
    audio = bytes(range(256)) + b"\x02" * (2 * FRAME_BYTES - 256) + b"\x03"
    frames = build_capture(audio)
    assert frames == [
        CONNECTED,
        start_frame(DEFAULTS),
        media_frame("2", "1", "0", audio[:160]),
        media_frame("3", "2", "20", audio[160:320]),
        media_frame("4", "3", "40", b"\x03" + b"\xff" * 159),
        stop_frame("5"),
    ]


def test_a_capture_carries_the_given_parameters_and_may_end_without_a_stop() -> None:
    params = {"callSid": OTHER, "from": "+15550100009", "streamToken": "t.o.k"}
    frames = build_capture(b"\x05" * FRAME_BYTES, params, stop=False)
    assert frames == [
        CONNECTED,
        start_frame(params),
        media_frame("2", "1", "0", b"\x05" * FRAME_BYTES),
    ]


def test_an_empty_capture_has_no_media() -> None:
    assert build_capture(b"") == [CONNECTED, start_frame(DEFAULTS), stop_frame("2")]


def test_a_capture_file_loads_as_the_frames_written(tmp_path: Path) -> None:
    frames = build_capture(b"\x01" * FRAME_BYTES, {"callSid": CALL, "from": "Zoë Ørsted"})
    path = tmp_path / "capture.json"
    path.write_bytes(json.dumps(frames, ensure_ascii=False).encode("utf-8"))
    loaded = load_capture(path)
    assert loaded == frames
    assert loaded[1]["start"]["customParameters"]["from"] == "Zoë Ørsted"


def test_every_mention_of_the_call_gets_the_new_call_sid() -> None:
    frames = build_capture(b"\x01" * FRAME_BYTES)
    renamed = with_call_sid(frames, OTHER)
    start, stop = renamed[1]["start"], renamed[-1]["stop"]
    assert start["callSid"] == stop["callSid"] == start["customParameters"]["callSid"] == OTHER
    assert CALL not in json.dumps(renamed)
    assert json.dumps(frames).count(CALL) == 3  # the original is untouched
    assert renamed[2] == frames[2]  # media frames name no call


def test_frames_without_a_call_sid_keep_their_shape() -> None:
    frames = [{"event": "start", "start": {"streamSid": "MZ1"}}, {"event": "stop", "stop": "x"}]
    assert with_call_sid(frames, OTHER) == frames  # type: ignore[arg-type]
