"""The fast barge-in detector against speech, line noise, keypad tones and echo."""

from __future__ import annotations

import numpy as np
import scipy.signal

from app.audio.convert import ulaw_to_pcm16
from app.audio.onset import FRAME_SAMPLES, OnsetDetector, level_dbfs
from app.telephony.captures import capture_ulaw, load_capture
from tests.conftest import FIXTURES
from tests.support.calls import REPLY
from tests.support.signals import from_pcm16, tone

CALLER = from_pcm16(ulaw_to_pcm16(capture_ulaw(load_capture(FIXTURES / "caller_barge_in.json"))))
AGENT = scipy.signal.resample_poly(from_pcm16(REPLY), 1, 3)  # the bot's voice at 8 kHz


def frames(x: np.ndarray) -> list[np.ndarray]:
    return [x[i : i + FRAME_SAMPLES] for i in range(0, len(x) - FRAME_SAMPLES + 1, FRAME_SAMPLES)]


def true_onset_ms(clean: np.ndarray) -> float:
    """Oracle: the first 20 ms frame of the clean recording above −40 dBFS."""
    return 20.0 * next(i for i, f in enumerate(frames(clean)) if level_dbfs(f) > -40)


def fire_times_ms(x: np.ndarray, agent_levels: list[float | None] | None = None) -> list[float]:
    detector, fired = OnsetDetector(), []
    for i, frame in enumerate(frames(x)):
        agent = agent_levels[i] if agent_levels else None
        if detector.feed(frame, agent):
            fired.append(20.0 * (i + 1))
    return fired


def noise(seconds: float, dbfs: float, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(0, 32768 * 10 ** (dbfs / 20), int(8000 * seconds))


def test_speech_onset_is_caught_quickly() -> None:
    onset = true_onset_ms(CALLER)
    fired = fire_times_ms(CALLER)
    assert fired and fired[0] >= onset
    assert fired[0] - onset <= 100  # detection; the goal is ≤ 150 ms to `clear`


def test_speech_over_line_noise_is_caught_and_noise_alone_is_not() -> None:
    line = noise(len(CALLER) / 8000, -50)
    fired = fire_times_ms(CALLER + line)
    onset = true_onset_ms(CALLER)
    assert fired and onset <= fired[0] <= onset + 100


def test_line_noise_and_hum_never_fire() -> None:
    hum = sum(tone(f, 8000, 5.0, -35) for f in (60, 120, 180))
    for signal in (noise(5.0, -40), noise(5.0, -30, seed=2), hum + noise(5.0, -55)):
        assert fire_times_ms(signal) == []


def test_keypad_tones_never_fire() -> None:
    rows, cols = (697, 770, 852, 941), (1209, 1336, 1477)
    pieces = []
    for r in rows:
        for c in cols:
            pieces += [tone(r, 8000, 0.12, -9) + tone(c, 8000, 0.12, -7), np.zeros(640)]
    keypad = np.concatenate(pieces) + noise(len(np.concatenate(pieces)) / 8000, -60)
    assert fire_times_ms(keypad) == []


def _agent_levels(agent: np.ndarray, n: int) -> list[float | None]:
    """What the bridge tells the detector: the loudest agent frame of the last 200 ms."""
    per_frame = [level_dbfs(f) for f in frames(agent)]
    return [max(per_frame[max(0, i - 9) : i + 1]) if i < len(per_frame) else None for i in range(n)]


def test_the_bots_own_voice_echoed_at_minus_20_db_never_fires() -> None:
    delay = 320  # 40 ms of echo path
    echo = np.concatenate((np.zeros(delay), AGENT))[: len(AGENT)] * 0.1  # −20 dB
    line = echo + noise(len(echo) / 8000, -55)
    assert fire_times_ms(line, _agent_levels(AGENT, len(frames(line)))) == []


def test_caller_talking_over_the_echo_still_fires() -> None:
    echo = np.concatenate((np.zeros(320), AGENT))[: len(AGENT)] * 0.1
    n = min(len(echo), len(CALLER))
    mixed = echo[:n] + CALLER[:n]
    fired = fire_times_ms(mixed, _agent_levels(AGENT, len(frames(mixed))))
    onset = true_onset_ms(CALLER[:n])
    assert fired and onset <= fired[0] <= onset + 150
