"""Keypad tones found in caller frames, and which frames a recording mutes."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from app.audio.convert import TWILIO_RATE, ulaw_to_pcm16
from app.audio.keypad_tones import AFTER, HIGH, KEYS, LOW, KeypadTones, Mute, key_in, tone_shares
from app.telephony.captures import capture_ulaw
from tests.support.calls import BARGE_IN, QUESTION

FRAME = 160  # 20 ms at 8 kHz

Pcm = npt.NDArray[np.int16]


def key_tone(key: str, level: float = 8000.0, *, ms: float = 20, end: bool = False) -> Pcm:
    """A 20 ms frame holding ``ms`` of the key's two sines (each of peak ``level / 2``),
    at the frame's start, or at its end; silence elsewhere."""
    row = next(r for r, keys in enumerate(KEYS) if key in keys)
    column = KEYS[row].index(key)
    t = np.arange(FRAME) / TWILIO_RATE
    wave = level / 2 * (np.sin(2 * np.pi * LOW[row] * t) + np.sin(2 * np.pi * HIGH[column] * t))
    span = round(ms * TWILIO_RATE / 1000)
    window = np.zeros(FRAME)
    if end:
        window[FRAME - span :] = 1
    else:
        window[:span] = 1
    return np.rint(wave * window).astype(np.int16)


def sine(freq: float, level: float = 8000.0) -> Pcm:
    t = np.arange(FRAME) / TWILIO_RATE
    return np.rint(level * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def speech_frames() -> list[Pcm]:
    """Every frame of the two recorded callers (espeak-ng speech, as Twilio frames it)."""
    pcm = np.concatenate(
        [np.frombuffer(ulaw_to_pcm16(capture_ulaw(c)), dtype="<i2") for c in (QUESTION, BARGE_IN)]
    )
    return list(pcm.reshape(-1, FRAME))  # Twilio's frames are all 160 samples


SILENCE = np.zeros(FRAME, dtype=np.int16)
ALL_KEYS = "".join(KEYS)


@pytest.mark.parametrize("key", ALL_KEYS)
@pytest.mark.parametrize("level", [400.0, 2000.0, 30000.0])
def test_every_key_is_found_at_every_level(key: str, level: float) -> None:
    assert key_in(key_tone(key, level), TWILIO_RATE) == key


@pytest.mark.parametrize("key", ALL_KEYS)
def test_a_key_is_found_in_the_frame_where_most_of_it_is(key: str) -> None:
    assert key_in(key_tone(key, ms=16), TWILIO_RATE) == key
    assert key_in(key_tone(key, ms=16, end=True), TWILIO_RATE) == key
    # A few milliseconds are below the share: that frame is muted as the one before.
    assert key_in(key_tone(key, ms=10, end=True), TWILIO_RATE) is None


def test_a_pure_sine_has_all_its_share_at_its_frequency() -> None:
    for index, freq in enumerate(LOW + HIGH):
        shares = tone_shares(sine(freq), TWILIO_RATE)
        assert shares[index] == pytest.approx(1.0, abs=0.03)
        others = np.delete(shares, index)
        assert others.max() < 0.1


def test_a_key_has_half_its_share_at_each_of_its_two_frequencies() -> None:
    shares = tone_shares(key_tone("5"), TWILIO_RATE)
    assert shares[1] == pytest.approx(0.5, abs=0.03)  # 770 Hz
    assert shares[len(LOW) + 1] == pytest.approx(0.5, abs=0.03)  # 1336 Hz
    assert shares.sum() == pytest.approx(1.0, abs=0.1)


def test_silence_has_no_share_and_no_key() -> None:
    assert not tone_shares(SILENCE, TWILIO_RATE).any()
    assert len(tone_shares(SILENCE, TWILIO_RATE)) == 8
    assert key_in(SILENCE, TWILIO_RATE) is None
    assert key_in(np.zeros(0, dtype=np.int16), TWILIO_RATE) is None


def test_a_quiet_key_is_a_lines_noise() -> None:
    # Two sines of peak level / 2 have an RMS of level / 2; the floor is 100.
    assert key_in(key_tone("1", 220.0), TWILIO_RATE) == "1"  # RMS 110
    assert key_in(key_tone("1", 180.0), TWILIO_RATE) is None  # RMS 90


def test_one_sine_is_not_a_key_nor_are_two_of_one_group() -> None:
    for freq in LOW + HIGH:
        assert key_in(sine(freq), TWILIO_RATE) is None
    assert key_in(sine(LOW[0]) // 2 + sine(LOW[2]) // 2, TWILIO_RATE) is None
    assert key_in(sine(HIGH[1]) // 2 + sine(HIGH[3]) // 2, TWILIO_RATE) is None


def test_a_weak_second_tone_is_not_a_key() -> None:
    """Each group must carry at least EACH of the energy: a loud row with a faint
    column is a single tone (a dial tone, a hum), not a key."""
    faint = sine(LOW[0], 8000) + sine(HIGH[0], 2400)  # the column carries 8 %
    assert key_in(faint.astype(np.int16), TWILIO_RATE) is None
    fair = sine(LOW[0], 8000) + sine(HIGH[0], 4000)  # 20 %
    assert key_in(fair.astype(np.int16), TWILIO_RATE) == "1"


def test_a_key_buried_in_noise_is_not_a_key() -> None:
    noise = np.random.default_rng(7).normal(0, 3000, FRAME)
    buried = np.clip(key_tone("9", 4000).astype(float) + noise, -32768, 32767).astype(np.int16)
    assert key_in(buried, TWILIO_RATE) is None
    clear = np.clip(key_tone("9", 16000).astype(float) + noise / 8, -32768, 32767)
    assert key_in(clear.astype(np.int16), TWILIO_RATE) == "9"


def test_speech_is_never_taken_for_a_key() -> None:
    frames = speech_frames()
    assert len(frames) > 300
    assert [i for i, frame in enumerate(frames) if key_in(frame, TWILIO_RATE)] == []


def test_speech_never_carries_the_share_of_a_key() -> None:
    """A margin, not just a verdict: the two strongest keypad frequencies of any loud
    speech frame carry well under SHARE (0.7) of its energy."""
    loud = [f for f in speech_frames() if np.sqrt(np.mean(f.astype(float) ** 2)) >= 100]
    best = max(
        float(s[: len(LOW)].max() + s[len(LOW) :].max())
        for s in (tone_shares(f, TWILIO_RATE) for f in loud)
    )
    assert best < 0.5


def run(frames: list[Pcm]) -> list[Mute]:
    tones = KeypadTones(TWILIO_RATE)
    return [tones.frame(frame) for frame in frames]


def test_a_tone_its_frame_before_and_two_after_are_muted() -> None:
    assert AFTER == 2
    speech = speech_frames()[120]
    frames = [speech, speech, key_tone("7"), key_tone("7"), speech, speech, speech, speech]
    assert run(frames) == [
        Mute(this=False, previous=False),
        Mute(this=False, previous=False),
        Mute(this=True, previous=True),  # the tone, and the frame before it
        Mute(this=True, previous=False),  # the frame before is muted already
        Mute(this=True, previous=False),  # its tail
        Mute(this=True, previous=False),
        Mute(this=False, previous=False),
        Mute(this=False, previous=False),
    ]


def test_a_tone_in_the_first_frame_has_no_frame_before() -> None:
    assert run([key_tone("#"), SILENCE, SILENCE, SILENCE]) == [
        Mute(this=True, previous=False),
        Mute(this=True, previous=False),
        Mute(this=True, previous=False),
        Mute(this=False, previous=False),
    ]


def test_keys_pressed_in_a_row_mute_everything_between_them() -> None:
    frames = [SILENCE, key_tone("1"), SILENCE, key_tone("2"), SILENCE, SILENCE, SILENCE]
    assert [m.this for m in run(frames)] == [False, True, True, True, True, True, False]
    assert [m.previous for m in run(frames)] == [False, True, False, False, False, False, False]


def test_a_tone_after_the_tail_mutes_its_frame_before_again() -> None:
    frames = [key_tone("4"), SILENCE, SILENCE, SILENCE, key_tone("4")]
    assert run(frames)[3:] == [Mute(this=False, previous=False), Mute(this=True, previous=True)]
