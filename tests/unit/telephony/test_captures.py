"""Captures: Twilio's framing of new ones, and one capture replayed as a call of its own."""

from __future__ import annotations

import json

from app.telephony.captures import CALL, FRAME_BYTES, build_capture, capture_ulaw, with_call_sid

OTHER = "CA" + "2b" * 16


def test_a_new_capture_is_framed_as_twilio_frames_it() -> None:
    frames = build_capture(b"\x01" * (FRAME_BYTES + 1))
    assert [f["event"] for f in frames] == ["connected", "start", "media", "media", "stop"]
    assert capture_ulaw(frames) == b"\x01" * (FRAME_BYTES + 1) + b"\xff" * (FRAME_BYTES - 1)
    assert [f["sequenceNumber"] for f in frames[1:]] == ["1", "2", "3", "4"]


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
