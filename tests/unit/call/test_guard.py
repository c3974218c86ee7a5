"""The inbound guard sorts every frame: the call's events, dropped (counted, noted), or
a violation. Table-driven, plus hostile frames from hypothesis."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.call.guard import Dropped, GuardPolicy, InboundGuard, Violation
from app.call.record import CallStats
from app.telephony import wire
from app.telephony.captures import STREAM, build_capture

FRAMES = build_capture(b"\xff" * 320, stop=True)
CONNECTED, START, MEDIA, STOP = (
    json.dumps(f) for f in (FRAMES[0], FRAMES[1], FRAMES[2], FRAMES[-1])
)


def frame(event: str, **fields: Any) -> str:
    return json.dumps({"event": event, "streamSid": STREAM, **fields})


def media(stream: str = STREAM, track: str = "inbound", payload: str = "/w==") -> str:
    return json.dumps(
        {"event": "media", "streamSid": stream, "media": {"track": track, "payload": payload}}
    )


def guard(policy: GuardPolicy | None = None, *, started: bool = False) -> InboundGuard:
    sorter = InboundGuard(policy or GuardPolicy(), CallStats())
    if started:
        sorter.stream_sid = STREAM
    return sorter


@pytest.mark.parametrize(
    ("raw", "kind", "ignored"),
    [
        (START, wire.Start, 0),
        (STOP, wire.Stop, 0),
        (CONNECTED, Dropped, 0),  # expected before the start, not counted
        (MEDIA, Dropped, 1),  # media before the start
        (frame("mark", mark={"name": "x"}), Dropped, 1),
        (frame("dtmf", dtmf={"digit": "1"}), Dropped, 1),
        (frame("something-new"), Dropped, 1),
    ],
)
def test_before_the_start(raw: str, kind: type, ignored: int) -> None:
    sorter = guard()
    assert isinstance(sorter.sort(raw, 0.0), kind)
    assert sorter._stats.ignored_frames == ignored


@pytest.mark.parametrize(
    ("raw", "kind", "ignored"),
    [
        (MEDIA, wire.Media, 0),
        (media(track="inbound_track"), wire.Media, 0),
        (media(stream="MZ" + "0" * 32), Dropped, 1),  # another stream's
        (media(track="outbound"), Dropped, 1),
        (media(payload=""), Dropped, 1),  # nothing to hear
        (frame("mark", mark={"name": "g0-t1-1"}), wire.Mark, 0),
        (STOP, wire.Stop, 0),
        (frame("dtmf", dtmf={"digit": "7"}), wire.Dtmf, 0),
        (frame("dtmf", dtmf={"digit": "#"}), wire.Dtmf, 0),
        (frame("dtmf", dtmf={"digit": "D"}), wire.Dtmf, 0),
        (frame("dtmf", dtmf={"digit": "12"}), Dropped, 1),
        (frame("dtmf", dtmf={"digit": "x"}), Dropped, 1),
        (frame("dtmf", dtmf={"digit": ""}), Dropped, 1),
        (START, Dropped, 1),  # a second start
        (CONNECTED, Dropped, 1),
        (frame("something-new"), Dropped, 1),
    ],
)
def test_in_the_call(raw: str, kind: type, ignored: int) -> None:
    sorter = guard(started=True)
    sorted_ = sorter.sort(raw, 0.0)
    assert isinstance(sorted_, kind)
    assert sorter._stats.ignored_frames == ignored
    if isinstance(sorted_, Dropped):
        assert sorted_.note is None  # ignored frames are counted, not logged


def test_malformed_frames_are_noted_first_then_every_hundredth_then_refused() -> None:
    sorter = guard(GuardPolicy(max_malformed=300, log_malformed_first=5))
    notes = [sorter.sort("not json", 0.0) for _ in range(300)]
    noted = [i + 1 for i, d in enumerate(notes) if isinstance(d, Dropped) and d.note]
    assert noted == [1, 2, 3, 4, 5, 100, 200, 300]
    assert isinstance(notes[0], Dropped) and notes[0].note == (
        "ignored malformed Twilio frame #1: 'frame is not valid JSON'"
    )
    assert sorter.sort(b"\x00", 0.0) == Violation("301 malformed messages")
    assert sorter._stats.malformed_frames == 301


def test_a_flood_is_a_violation_and_the_budget_refills() -> None:
    sorter = guard(GuardPolicy(max_messages_per_s=10), started=True)
    assert all(isinstance(sorter.sort(MEDIA, 0.0), wire.Media) for _ in range(20))  # burst: 2x
    assert sorter.sort(MEDIA, 0.0) == Violation("message flood")
    assert isinstance(sorter.sort(MEDIA, 0.5), wire.Media)  # 5 back after half a second
    assert sum(isinstance(sorter.sort(MEDIA, 0.5), wire.Media) for _ in range(10)) == 4


@given(st.one_of(st.text(max_size=300), st.binary(max_size=300)))
def test_any_frame_sorts_without_raising(raw: str | bytes) -> None:
    for started in (False, True):
        sorted_ = guard(started=started).sort(raw, 0.0)
        assert isinstance(
            sorted_, (wire.Start, wire.Media, wire.Mark, wire.Dtmf, wire.Stop, Dropped, Violation)
        )


def test_every_ignored_frame_is_counted() -> None:
    sorter = guard(started=True)
    for raw in (CONNECTED, START, media(track="outbound")):
        assert isinstance(sorter.sort(raw, 0.0), Dropped)
    assert sorter._stats.ignored_frames == 3


# caller audio within a factor of real time (round three's N7)

FRAME_20MS = media(payload=base64.b64encode(b"\xff" * 160).decode())  # 20 ms of µ-law


def test_twenty_ms_frames_are_160_bytes() -> None:
    event = guard(started=True).sort(FRAME_20MS, 0.0)
    assert isinstance(event, wire.Media) and len(event.payload) == 160


def test_audio_faster_than_real_time_is_dropped_after_the_burst_and_counted() -> None:
    sorter = guard(GuardPolicy(max_messages_per_s=10_000), started=True)
    sorted_ = [sorter.sort(FRAME_20MS, 0.0) for _ in range(252)]
    assert all(isinstance(s, wire.Media) for s in sorted_[:250])  # 5 s of burst
    assert sorted_[250] == Dropped("caller audio faster than 2x real time: dropping the excess")
    assert sorted_[251] == Dropped()  # noted once
    assert sorter._stats.audio_dropped_ms == 40.0
    # Half a second later, twice that much audio is heard again: 1000 ms, 50 frames.
    later = [sorter.sort(FRAME_20MS, 0.5) for _ in range(51)]
    assert [isinstance(s, wire.Media) for s in later] == [True] * 50 + [False]
    assert sorter._stats.audio_dropped_ms == 60.0


def test_audio_in_real_time_is_never_dropped() -> None:
    sorter = guard(GuardPolicy(audio_burst_ms=20.0), started=True)
    assert all(
        isinstance(sorter.sort(FRAME_20MS, i * 0.02), wire.Media) for i in range(3000)
    )  # a minute of it
    assert sorter._stats.audio_dropped_ms == 0


@pytest.mark.parametrize(("factor", "kept"), [(0.0, 300), (1.0, 250), (3.0, 250)])
def test_the_factor_and_no_limit(factor: float, kept: int) -> None:
    sorter = guard(GuardPolicy(max_messages_per_s=10_000, max_audio_rate=factor), started=True)
    sorted_ = [sorter.sort(FRAME_20MS, 0.0) for _ in range(300)]
    assert sum(isinstance(s, wire.Media) for s in sorted_) == kept  # the burst, then none


def test_the_audio_allowance_refills_at_exactly_the_factor() -> None:
    sorter = guard(GuardPolicy(max_audio_rate=1.0, audio_burst_ms=20.0), started=True)
    assert isinstance(sorter.sort(FRAME_20MS, 0.0), wire.Media)  # the burst: one frame
    assert sorter.sort(FRAME_20MS, 0.01999) == Dropped(
        "caller audio faster than 1x real time: dropping the excess"
    )  # 19.99 ms earned back: not yet a frame
    assert isinstance(sorter.sort(FRAME_20MS, 0.04), wire.Media)
