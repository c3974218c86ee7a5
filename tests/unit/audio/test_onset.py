"""The fast barge-in detector against speech, line noise, keypad tones and echo."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal
from hypothesis import given
from hypothesis import strategies as st

from app.audio.convert import ulaw_to_pcm16
from app.audio.onset import FRAME_SAMPLES, OnsetConfig, OnsetDetector, level_dbfs, peak_fraction
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


# -- the measurements, exactly

T = np.arange(FRAME_SAMPLES) / 8000


def at_level(dbfs: float, seed: int = 7) -> np.ndarray:
    """A frame of white noise (not tonal) at exactly ``dbfs``."""
    x = np.random.default_rng(seed).normal(0, 1, FRAME_SAMPLES)
    frame: np.ndarray = x / np.sqrt(np.mean(x**2)) * 32768 * 10 ** (dbfs / 20)
    return frame


@pytest.mark.parametrize(
    ("pcm", "dbfs"),
    [
        (np.full(160, 32768.0), 0.0),
        (np.full(160, -3276.8), -20.0),
        (np.full(80, 327.68), -40.0),
        (np.full(160, 0.5), 20 * np.log10(0.5 / 32768)),
        (np.zeros(160), 20 * np.log10(1e-3 / 32768)),  # silence: a floor, not -inf
        (np.zeros(0), 20 * np.log10(1e-3 / 32768)),
        (np.full(160, 32767, dtype=np.int16), 20 * np.log10(32767 / 32768)),  # no overflow
    ],
)
def test_level_is_rms_in_dbfs(pcm: np.ndarray, dbfs: float) -> None:
    assert level_dbfs(pcm) == pytest.approx(dbfs, abs=1e-9)


def test_a_pure_tone_or_a_constant_is_all_peak_and_noise_is_not() -> None:
    assert peak_fraction(np.sin(2 * np.pi * 1000 * T)) > 0.9999
    assert peak_fraction(0.001 * np.sin(2 * np.pi * 1000 * T)) > 0.9999  # scale-free
    assert peak_fraction(np.ones(160)) > 0.9999  # its peak at 0 Hz
    assert peak_fraction(np.zeros(160)) == 0.0
    assert peak_fraction(at_level(-20)) < 0.3


def test_two_peaks_are_counted_not_three() -> None:
    three = (
        np.sin(2 * np.pi * 500 * T) + np.sin(2 * np.pi * 1500 * T) + np.sin(2 * np.pi * 2500 * T)
    )
    assert peak_fraction(three) == pytest.approx(2 / 3, abs=1e-4)


def reference_peak_fraction(pcm: np.ndarray) -> float:
    """The docstring's definition, bin by bin: the strongest bin and its two
    neighbours, then the strongest bin left and its neighbours."""
    energy = [float(e) for e in np.abs(np.fft.rfft(pcm * np.hanning(len(pcm)))) ** 2]
    total = sum(energy)
    if total <= 0:
        return 0.0
    captured = 0.0
    for _ in range(2):
        k = max(range(len(energy)), key=lambda i: (energy[i], -i))
        for i in (k - 1, k, k + 1):
            if 0 <= i < len(energy):
                captured += energy[i]
                energy[i] = 0.0
    return captured / total


@given(
    st.lists(st.floats(min_value=-4.0, max_value=4.0), min_size=160, max_size=160),
    st.sampled_from([1e-3, 1.0, 300.0]),
)
def test_peak_fraction_is_the_two_strongest_peaks_share(values: list[float], scale: float) -> None:
    pcm = np.array(values) * scale
    assert peak_fraction(pcm) == pytest.approx(reference_peak_fraction(pcm), rel=1e-9, abs=1e-12)


# -- the detector's decisions, frame by frame

QUIET = -70.0


def detector(warmup: int = 2, onset: int = 1, **config: float) -> OnsetDetector:
    settings = {"min_level_dbfs": -100.0} | config
    return OnsetDetector(OnsetConfig(warmup_frames=warmup, onset_frames=onset, **settings))  # type: ignore[arg-type]


def fed(d: OnsetDetector, levels: list[float], agent: float | None = None) -> list[bool]:
    return [d.feed(at_level(level, seed=i), agent) for i, level in enumerate(levels)]


def test_no_onset_during_warmup_and_the_first_speech_frame_after_it_fires() -> None:
    assert fed(detector(), [QUIET, QUIET, -20.0]) == [False, False, True]
    # a loud frame in the last warmup frame is taken for the line's noise
    assert fed(detector(), [QUIET, -20.0, -20.0]) == [False, False, False]


def test_the_floor_learnt_is_the_loudest_warmup_frame() -> None:
    # floor -70 (the louder of the two), threshold -70 + 12 = -58
    assert fed(detector(), [-80.0, QUIET, -57.0]) == [False, False, True]
    assert fed(detector(), [-80.0, QUIET, -59.0]) == [False, False, False]
    assert fed(detector(), [QUIET, -80.0, -59.0]) == [False, False, False]
    # the first frame sets the floor, whatever the start value (-60) was
    assert fed(detector(warmup=1), [-80.0, -60.0]) == [False, True]


def test_without_warmup_the_start_floor_is_used() -> None:
    # floor -60, threshold -48
    assert fed(detector(warmup=0, noise_floor_start_dbfs=-60.0), [-47.0]) == [True]
    assert fed(detector(warmup=0, noise_floor_start_dbfs=-60.0), [-49.0]) == [False]


def test_speech_must_be_louder_than_the_floor_not_just_as_loud() -> None:
    d = detector(margin_db=0.0)
    frame = at_level(QUIET, seed=1)
    assert [d.feed(frame, None) for _ in range(3)] == [False, False, False]


def test_the_minimum_level_applies_over_a_low_floor() -> None:
    d = OnsetDetector(OnsetConfig(warmup_frames=1, onset_frames=1, min_level_dbfs=-45.0))
    assert fed(d, [-90.0, -46.0]) == [False, False]
    assert fed(OnsetDetector(OnsetConfig(warmup_frames=1, onset_frames=1)), [-90.0, -44.0]) == [
        False,
        True,
    ]


def test_a_frame_as_tonal_as_the_limit_is_not_speech() -> None:
    probe = at_level(-20.0, seed=2)
    limit = peak_fraction(probe)
    d = detector(max_peak_fraction=limit)
    assert [d.feed(f, None) for f in (at_level(QUIET), at_level(QUIET), probe)] == [False] * 3
    d = detector(max_peak_fraction=limit + 1e-9)
    assert [d.feed(f, None) for f in (at_level(QUIET), at_level(QUIET), probe)] == [
        False,
        False,
        True,
    ]


def test_while_the_agent_is_audible_speech_must_beat_its_echo() -> None:
    # agent at -20 dBFS: echo up to -40, so speech needs more than -40 + 12 = -28
    assert fed(detector(), [QUIET, QUIET, -30.0], agent=-20.0) == [False, False, False]
    assert fed(detector(), [QUIET, QUIET, -26.0], agent=-20.0) == [False, False, True]
    assert fed(detector(echo_loss_db=10.0), [QUIET, QUIET, -26.0], agent=-20.0)[2] is False
    assert fed(detector(), [QUIET, QUIET, -30.0], agent=None)[2] is True
    assert fed(detector(), [QUIET, QUIET, -50.0], agent=-90.0)[2] is True  # the floor rules


@pytest.mark.parametrize(
    ("between", "probe", "fires"),
    [
        (-90.0, -67.0, True),  # fell halfway to -90: floor -80, threshold -68
        (-90.0, -69.0, False),
        (-62.0, -57.7, True),  # rose 2% of 8 dB: floor -69.84, threshold -57.84
        (-62.0, -57.9, False),
    ],
)
def test_the_floor_falls_fast_and_rises_slowly(between: float, probe: float, fires: bool) -> None:
    assert fed(detector(), [QUIET, QUIET, between, probe]) == [False, False, False, fires]


def test_onset_needs_its_frames_in_a_row() -> None:
    speech = -20.0
    d = detector(onset=3)
    levels = [QUIET, QUIET, speech, speech, QUIET, speech, speech, speech, speech]
    assert fed(d, levels) == [False] * 7 + [True, False]  # fires once, on the third
    d = detector(onset=2)
    d.feed(at_level(QUIET), None)
    d.feed(at_level(QUIET), None)
    assert fed(d, [speech, QUIET, speech, speech]) == [False, False, False, True]


def test_reset_starts_the_count_again() -> None:
    d = detector(onset=2)
    fed(d, [QUIET, QUIET, -20.0])
    d.reset()
    assert fed(d, [-20.0, -20.0]) == [False, True]


def test_audio_is_framed_across_feeds() -> None:
    signal = np.concatenate([at_level(QUIET, seed=i) for i in range(10)] + [at_level(-20.0)] * 4)
    # the onset completes at the end of frame 13 (sample 2080): in the chunk holding it
    d = OnsetDetector(OnsetConfig(min_level_dbfs=-100.0))
    chunks = [signal[i : i + 70] for i in range(0, len(signal), 70)]
    assert [i for i, c in enumerate(chunks) if d.feed(c, None)] == [2079 // 70]
    d = OnsetDetector(OnsetConfig(min_level_dbfs=-100.0))
    assert d.feed(signal, None) is True  # fired on a frame that is not the last one fed


def test_a_frame_starts_at_its_first_sample() -> None:
    impulse = np.zeros(FRAME_SAMPLES)
    impulse[0] = 30000.0
    d = detector()
    assert [d.feed(f, None) for f in (np.zeros(160), np.zeros(160), impulse)] == [
        False,
        False,
        True,
    ]
