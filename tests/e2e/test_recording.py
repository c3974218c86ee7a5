"""Stereo recordings: caller left, agent right, aligned as the caller heard it."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

from app.audio.convert import pcm16_to_ulaw, ulaw_to_pcm16
from app.sinks.recording import StereoRecording
from app.telephony.captures import capture_ulaw
from tests.support.calls import BARGE_IN, CALL_SID, QUESTION, REPLY, start_call
from tests.support.gemini_standin import GeminiStandIn, StandInConnection
from tests.support.server import serve_app, settings_for
from tests.support.signals import to_pcm16, tone, tone_amplitudes


def read(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with wave.open(str(path)) as wav:
        assert (wav.getnchannels(), wav.getframerate(), wav.getsampwidth()) == (2, 8000, 2)
        frames = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
    return frames[0::2].astype(float), frames[1::2].astype(float)


def test_agent_audio_plays_after_what_is_queued_and_a_clear_cuts_it(tmp_path: Path) -> None:
    rec = StereoRecording(tmp_path / "r.wav")
    caller = pcm16_to_ulaw(to_pcm16(tone(300, 8000, 0.02, -20)))
    agent = pcm16_to_ulaw(to_pcm16(tone(1000, 8000, 0.1, -10)))  # 100 ms
    rec.caller(caller)  # 0-20 ms: no agent yet
    rec.agent(agent)  # queued from 20 ms
    rec.agent(agent)  # and after it, 120-220 ms
    for _ in range(5):  # 20-120 ms
        rec.caller(caller)
    rec.clear()  # at 120 ms: the second 100 ms is never heard
    for _ in range(5):
        rec.caller(caller)
    rec.close()
    left, right = read(tmp_path / "r.wav")
    assert len(left) == len(right) == 11 * 160
    assert not right[:160].any()
    assert np.abs(right[160:960]).mean() > 500  # 20-120 ms: agent audio
    assert not right[960:].any()  # cut by the clear


async def test_a_call_with_an_interruption_is_recorded_as_heard(
    standin: GeminiStandIn, tmp_path: Path
) -> None:
    async def scenario(conn: StandInConnection) -> None:
        await conn.wait_audio_ms(200)
        await conn.send_audio(REPLY, realtime=2.0)
        await conn.wait_audio_ms(1800)
        await conn.interrupted()
        await conn.turn_complete()

    standin.scenario = scenario
    async with serve_app(settings_for(standin, recordings_dir=str(tmp_path / "rec"))) as server:
        _, stream = await start_call(server)
        await stream.replay(BARGE_IN, stop=False)
        await stream.stop(CALL_SID)
        await stream.wait_closed()
    left, right = read(tmp_path / "rec" / f"{CALL_SID}.wav")
    caller_frames = sum(1 for f in BARGE_IN if f["event"] == "media")
    assert len(left) == caller_frames * 160  # the caller's clock
    # the agent speaks from early on, and is silent after the interruption at ~1.8 s (the
    # reply would play on for seconds without the clear; the margin is the time a loaded
    # machine may take to act on it)
    assert np.abs(right[int(0.4 * 8000) : int(1.6 * 8000)]).mean() > 300
    assert len(REPLY) / 48000 >= 2.9  # queued from ~0.2 s: it would play past 3 s
    assert not right[int(2.6 * 8000) :].any()
    # the caller's speech (from 1.5 s) is on the left
    assert np.abs(left[int(1.6 * 8000) : int(3.0 * 8000)]).mean() > 300


FRAME = 160
KEY_7 = [852.0, 1209.0]  # its row and column, Hz


def caller_pressing_7() -> tuple[bytes, int, int]:
    """One second of the recorded caller's speech with key 7 pressed for 100 ms in the
    middle, its tone beginning 3 ms before a frame's end (too little to be found in that
    frame: it is muted as the frame before the tone). Returns the µ-law audio and the
    tone's first and last sample."""
    speech = capture_ulaw(QUESTION)
    before, after = speech[40 * FRAME : 65 * FRAME], speech[65 * FRAME : 90 * FRAME]
    key = tone(KEY_7[0], 8000, 0.1, -12) + tone(KEY_7[1], 8000, 0.1, -12)
    gap = np.zeros(FRAME - 24)  # the tone starts 3 ms (24 samples) before a frame ends
    middle = np.concatenate((gap, key, np.zeros(-(len(gap) + len(key)) % FRAME + FRAME)))
    start = len(before) + len(gap)
    return before + pcm16_to_ulaw(to_pcm16(middle)) + after, start, start + len(key) - 1


@pytest.mark.parametrize("redact", [True, False], ids=["REDACT_DTMF", "default"])
async def test_keypad_tones_are_left_out_of_the_recording_with_redact_dtmf(
    standin: GeminiStandIn, tmp_path: Path, redact: bool, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO")
    caller, first, last = caller_pressing_7()
    settings = settings_for(standin, recordings_dir=str(tmp_path / "rec"), redact_dtmf=redact)
    async with serve_app(settings) as server:
        _, stream = await start_call(server)
        await stream.replay(QUESTION[:2], stop=False)  # connected, start: no audio yet
        await stream.send_audio(caller, realtime=4.0)
        await stream.stop(CALL_SID)
        await stream.wait_closed()
    left, _ = read(tmp_path / "rec" / f"{CALL_SID}.wav")
    sent = np.frombuffer(ulaw_to_pcm16(caller), dtype="<i2").astype(float)
    assert len(left) == len(sent)
    span = left[first : last + 1]
    loud = tone_amplitudes(sent[first : last + 1], 8000, KEY_7)
    assert min(loud) > 5000  # what was sent: the key, clearly
    logged = [r.getMessage() for r in caplog.records if "] recording: " in r.getMessage()]
    if not redact:
        assert np.array_equal(left, sent)  # the recording keeps the tone
        assert logged[0].endswith(".wav (1.1 s)")  # no word of keypad tones
        return
    assert not span.any()  # every sample of the tone is silent
    # Whole frames are muted, from the one before the tone to two after it; everything
    # else, the speech on both sides included, is as the caller sent it.
    muted = np.flatnonzero(left != sent)
    lo, hi = first // FRAME * FRAME, (last // FRAME + 3) * FRAME
    assert muted.min() >= lo and muted.max() < hi
    assert np.array_equal(left[:lo], sent[:lo]) and np.array_equal(left[hi:], sent[hi:])
    assert not left[lo:hi].any()
    assert logged[0].endswith(f"; {(hi - lo) / 8000:.2f} s of keypad tones muted)")
