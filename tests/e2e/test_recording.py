"""Stereo recordings: caller left, agent right, aligned as the caller heard it."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

from app.audio.convert import pcm16_to_ulaw
from app.sinks.recording import StereoRecording
from tests.support.calls import BARGE_IN, CALL_SID, REPLY, start_call
from tests.support.gemini_standin import GeminiStandIn, StandInConnection
from tests.support.server import serve_app, settings_for
from tests.support.signals import to_pcm16, tone


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
