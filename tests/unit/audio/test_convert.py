"""Properties of the streaming audio core (issue: audio core)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
import pytest
import scipy.signal
from hypothesis import given, settings
from hypothesis import strategies as st

from app.audio.convert import (
    DOWNSAMPLE_FILTER,
    SPEECH_RMS,
    UPSAMPLE_FILTER,
    FilterSpec,
    InboundConverter,
    OutboundConverter,
    PolyphaseResampler,
    _to_int16_bytes,
    is_speech,
    kaiser_lowpass,
    pcm16_to_ulaw,
    ulaw_to_pcm16,
)
from tests.support.signals import (
    best_lag,
    db,
    from_pcm16,
    snr_db,
    to_pcm16,
    tone,
    tone_amplitude,
    tone_amplitudes,
)

T = TypeVar("T", bytes, Any)

UP_DELAY_IN = 15  # input samples at 8 kHz (30 at 16 kHz)
DOWN_DELAY_OUT = 15  # output samples at 8 kHz (45 at 24 kHz)


def test_filter_delays_are_whole_samples_and_within_budget() -> None:
    assert UPSAMPLE_FILTER.group_delay_samples == 2 * UP_DELAY_IN
    assert DOWNSAMPLE_FILTER.group_delay_samples == 3 * DOWN_DELAY_OUT
    assert InboundConverter.delay_ms <= 3.0
    assert OutboundConverter.delay_ms <= 3.0


def _run_up(samples: np.ndarray) -> np.ndarray:
    return PolyphaseResampler(UPSAMPLE_FILTER, up=2).process(samples)


def _run_down(samples: np.ndarray) -> np.ndarray:
    return PolyphaseResampler(DOWNSAMPLE_FILTER, down=3).process(samples)


def _band_limited_noise(rate: int, seconds: float, top_hz: float, seed: int) -> np.ndarray:
    """White noise with every FFT bin above ``top_hz`` removed (zero phase)."""
    rng = np.random.default_rng(seed)
    spectrum = np.fft.rfft(rng.normal(0, 3000, int(rate * seconds)))
    spectrum[np.fft.rfftfreq(int(rate * seconds), 1 / rate) > top_hz] = 0
    result: np.ndarray = np.fft.irfft(spectrum, int(rate * seconds))
    return result


def test_measured_delay_matches_the_declared_delay() -> None:
    noise_8k = _band_limited_noise(8000, 1.0, 3400, seed=1)
    reference_16k = scipy.signal.resample(noise_8k, 16000)  # exact for band-limited
    assert best_lag(reference_16k, _run_up(noise_8k), 80) == UPSAMPLE_FILTER.group_delay_samples

    noise_24k = _band_limited_noise(24000, 1.0, 3400, seed=2)
    assert best_lag(noise_24k[::3], _run_down(noise_24k), 40) == DOWN_DELAY_OUT


@pytest.mark.parametrize("freq", [4500, 5000, 6000, 7000, 8000, 9000, 10000, 11000, 11900])
def test_alias_rejection_24k_to_8k(freq: int) -> None:
    reference = tone_amplitude(_run_down(tone(1000, 24000, 1.0))[200:], 8000, 1000)
    out = _run_down(tone(freq, 24000, 1.0))[200:]
    alias = abs(freq - 8000 * round(freq / 8000))
    leaked = tone_amplitude(out, 8000, alias)
    assert db(leaked / reference) <= -60


@pytest.mark.parametrize("freq", [300, 1000, 2000, 3000, 3400])
def test_image_rejection_8k_to_16k(freq: int) -> None:
    out = _run_up(tone(freq, 8000, 1.0))[200:]
    wanted, image = tone_amplitudes(out, 16000, [freq, 8000 - freq])
    assert db(image / wanted) <= -60


@pytest.mark.parametrize("freq", range(300, 3401, 100))
def test_passband_is_flat_within_one_db(freq: int) -> None:
    level_in = tone_amplitude(tone(freq, 8000, 0.5)[100:], 8000, freq)
    up = tone_amplitude(_run_up(tone(freq, 8000, 0.5))[200:], 16000, freq)
    down = tone_amplitude(_run_down(tone(freq, 24000, 0.5))[100:], 8000, freq)
    assert abs(db(up / level_in)) <= 1.0
    assert abs(db(down / level_in)) <= 1.0


def _chunked(
    convert: Callable[[T], T], data: T, cuts: list[int], join: Callable[[list[T]], T]
) -> T:
    out, start = [], 0
    for end in [*cuts, len(data)]:  # type: ignore[arg-type]
        out.append(convert(data[start:end]))  # type: ignore[index]
        start = end
    return join(out)


def _cuts(draw_sizes: list[int], total: int) -> list[int]:
    cuts, pos = [], 0
    for size in draw_sizes:
        pos = min(total, pos + size)
        cuts.append(pos)
    return cuts


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 700), min_size=1, max_size=40), st.integers(0, 2**31))
def test_outbound_streaming_equals_one_shot(sizes: list[int], seed: int) -> None:
    rng = np.random.default_rng(seed)
    pcm = to_pcm16(rng.normal(0, 4000, 6000))
    whole = OutboundConverter().convert(pcm)
    streamed = _chunked(OutboundConverter().convert, pcm, _cuts(sizes, len(pcm)), b"".join)
    # PCM within 1 LSB before encoding lands on the same or the adjacent µ-law level.
    a = from_pcm16(ulaw_to_pcm16(whole))
    b = from_pcm16(ulaw_to_pcm16(streamed))
    assert len(a) == len(b) == 2000
    assert np.all(np.abs(a - b) <= np.maximum(8, np.abs(a) / 8))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 700), min_size=1, max_size=40), st.integers(0, 2**31))
def test_resampler_streaming_equals_one_shot_within_one_lsb(sizes: list[int], seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = np.rint(rng.normal(0, 4000, 6000))
    for make in (
        lambda: PolyphaseResampler(UPSAMPLE_FILTER, up=2),
        lambda: PolyphaseResampler(DOWNSAMPLE_FILTER, down=3),
    ):
        whole = np.rint(make().process(x))
        r = make()
        streamed = np.rint(_chunked(r.process, x, _cuts(sizes, len(x)), np.concatenate))
        assert len(streamed) == len(whole)
        assert np.max(np.abs(streamed - whole)) <= 1


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 400), min_size=1, max_size=30))
def test_inbound_streaming_equals_one_shot(sizes: list[int]) -> None:
    ulaw = pcm16_to_ulaw(to_pcm16(tone(440, 8000, 0.6, -6) + tone(2900, 8000, 0.6, -12)))
    whole = from_pcm16(InboundConverter().convert(ulaw))
    streamed = from_pcm16(
        _chunked(InboundConverter().convert, ulaw, _cuts(sizes, len(ulaw)), b"".join)
    )
    assert len(whole) == len(streamed) == 2 * len(ulaw)
    assert np.max(np.abs(whole - streamed)) <= 1


def test_inbound_holds_nothing_back_per_frame() -> None:
    conv = InboundConverter()
    ulaw = pcm16_to_ulaw(to_pcm16(tone(1000, 8000, 1.0)))
    for i in range(0, len(ulaw), 160):
        assert len(conv.convert(ulaw[i : i + 160])) == 640  # 20 ms in, 20 ms out
    assert conv.delay_ms <= 3.0


@settings(max_examples=80, deadline=None)
@given(st.lists(st.integers(0, 9601), min_size=1, max_size=25))
def test_outbound_held_back_never_exceeds_3ms(sizes: list[int]) -> None:
    conv = OutboundConverter()
    pcm = to_pcm16(tone(1000, 24000, 3.0))
    fed_bytes, out_samples = 0, 0
    for size in sizes:
        chunk = pcm[fed_bytes : fed_bytes + size]
        fed_bytes += len(chunk)
        out_samples += len(conv.convert(chunk))
        fed_ms = fed_bytes / 2 / 24
        emitted_ms = out_samples / 8
        held = fed_ms - emitted_ms
        assert held == pytest.approx(conv.held_back_ms, abs=1e-9)
        assert held + conv.delay_ms <= 3.0


def test_odd_trailing_byte_is_carried() -> None:
    pcm = to_pcm16(tone(700, 24000, 0.2))
    whole = OutboundConverter().convert(pcm)
    conv = OutboundConverter()
    parts = [conv.convert(pcm[i : i + 1]) for i in range(len(pcm))]
    assert b"".join(parts) == whole


def test_reset_forgets_held_audio() -> None:
    conv = OutboundConverter()
    conv.convert(to_pcm16(tone(1000, 24000, 0.1, 0)) + b"\x01")
    conv.reset()
    assert conv.held_back_ms == 0
    silence = conv.convert(bytes(4800))
    assert set(from_pcm16(ulaw_to_pcm16(silence)).tolist()) <= {0.0}
    inbound = InboundConverter()
    inbound.convert(pcm16_to_ulaw(to_pcm16(tone(1000, 8000, 0.1, 0))))
    inbound.reset()
    assert not from_pcm16(inbound.convert(pcm16_to_ulaw(bytes(320)))).any()


def _mulaw_only_snr(rate: int) -> float:
    ref = tone(1000, rate, 1.0)
    decoded = from_pcm16(ulaw_to_pcm16(pcm16_to_ulaw(to_pcm16(ref))))
    return snr_db(ref, decoded)


def test_outbound_snr_through_mulaw_is_within_1db_of_mulaw_alone() -> None:
    out = from_pcm16(ulaw_to_pcm16(OutboundConverter().convert(to_pcm16(tone(1000, 24000, 1.2)))))
    ideal = tone(1000, 8000, 1.2)
    aligned = out[DOWN_DELAY_OUT + 400 :]
    reference = ideal[400 : 400 + len(aligned)]
    assert snr_db(reference, aligned) >= _mulaw_only_snr(8000) - 1.0


def test_inbound_snr_through_mulaw_is_within_1db_of_mulaw_alone() -> None:
    ulaw = pcm16_to_ulaw(to_pcm16(tone(1000, 8000, 1.2)))
    out = from_pcm16(InboundConverter().convert(ulaw))
    ideal = tone(1000, 16000, 1.2)
    aligned = out[2 * UP_DELAY_IN + 800 :]
    reference = ideal[800 : 800 + len(aligned)]
    assert snr_db(reference, aligned) >= _mulaw_only_snr(8000) - 1.0


# -- the small pieces, exactly


@pytest.mark.parametrize(
    "spec", [UPSAMPLE_FILTER, DOWNSAMPLE_FILTER, FilterSpec(7, 8000, 1000.0, 5.0)]
)
def test_the_taps_are_symmetric_with_unit_dc_gain(spec: FilterSpec) -> None:
    taps = kaiser_lowpass(spec)
    assert len(taps) == spec.numtaps
    assert taps.sum() == pytest.approx(1.0, abs=1e-12)
    assert np.allclose(taps, taps[::-1], rtol=0, atol=1e-15)


def test_samples_are_rounded_and_clipped_to_int16() -> None:
    samples = np.array([-40000.0, -32768.6, -32767.4, -0.5, 0.4, 1.5, 32766.6, 32767.5, 40000.0])
    expected = [-32768, -32768, -32767, 0, 0, 2, 32767, 32767, 32767]
    assert _to_int16_bytes(samples) == np.array(expected, dtype="<i2").tobytes()


@pytest.mark.parametrize(
    ("level", "speech"),
    [(0, False), (SPEECH_RMS, False), (SPEECH_RMS + 1, True), (-(SPEECH_RMS + 1), True)],
)
def test_speech_is_an_rms_above_the_threshold(level: int, speech: bool) -> None:
    assert SPEECH_RMS == 300
    assert is_speech(np.full(160, level, dtype="<i2").tobytes()) is speech


def test_no_audio_is_no_speech() -> None:
    assert is_speech(b"") is False


@pytest.mark.parametrize(("up", "down"), [(2, 2), (0, 1), (1, 0), (3, 2), (0, 0)])
def test_a_resampler_either_interpolates_or_decimates(up: int, down: int) -> None:
    with pytest.raises(ValueError, match=r"^one of up/down must be 1$"):
        PolyphaseResampler(UPSAMPLE_FILTER, up=up, down=down)


def test_a_resampler_by_one_is_the_low_pass_itself() -> None:
    resampler = PolyphaseResampler(FilterSpec(5, 8000, 2000.0, 5.0))
    assert (resampler.up, resampler.down, resampler.taps_per_phase) == (1, 1, 5)
    impulse = np.zeros(9)
    impulse[0] = 1.0
    out = resampler.process(impulse)
    assert np.allclose(out[:5], kaiser_lowpass(FilterSpec(5, 8000, 2000.0, 5.0)), atol=1e-15)
    assert np.allclose(out[5:], 0.0)


def test_each_input_sample_gives_its_output_at_once() -> None:
    up = PolyphaseResampler(UPSAMPLE_FILTER, up=2)
    assert (up.up, up.down) == (2, 1)
    assert [len(up.process(np.ones(1))) for _ in range(4)] == [2, 2, 2, 2]
    assert len(up.process(np.zeros(0))) == 0
    down = PolyphaseResampler(DOWNSAMPLE_FILTER, down=3)
    # one output on the first input of each step of three
    assert [len(down.process(np.ones(1))) for _ in range(7)] == [1, 0, 0, 1, 0, 0, 1]
    assert [len(down.process(np.ones(n))) for n in (2, 4, 3, 1)] == [0, 2, 1, 0]


def test_a_decimated_output_is_each_third_window() -> None:
    down = PolyphaseResampler(DOWNSAMPLE_FILTER, down=3)
    x = np.random.default_rng(5).normal(0, 1000, 300)
    taps = kaiser_lowpass(DOWNSAMPLE_FILTER)
    full = np.convolve(x, taps)[: len(x)]
    out = down.process(x)
    assert len(out) == 100
    assert np.allclose(out, full[::3], rtol=0, atol=1e-9)


def test_a_fresh_outbound_converter_holds_nothing() -> None:
    assert OutboundConverter().held_back_ms == 0.0


def test_flush_emits_the_filters_tail_then_starts_afresh() -> None:
    pcm = to_pcm16(tone(1000, 24000, 0.05, -6))  # 1200 samples: a whole number of steps
    conv = OutboundConverter()
    body = conv.convert(pcm)
    tail = conv.flush()
    assert len(body) == 400
    assert len(tail) == DOWN_DELAY_OUT  # 45 samples at 24 kHz of zeros push out 15 samples
    # what a converter fed the same audio followed by the delay's silence gives
    assert body + tail == OutboundConverter().convert(pcm + bytes(90))
    assert conv.held_back_ms == 0.0
    assert set(conv.convert(bytes(600))) == {pcm16_to_ulaw(bytes(2))[0]}
