"""Audio-core benchmark: this project's resamplers beside the usual approaches.

Run: ``python -m bench.audio``. Prints one table; every figure is measured in this
run on this machine (nothing is copied in). Directions: *in* is 8k→16k (caller to
Gemini), *out* is 24k→8k (Gemini to caller). Each approach is fed 20 ms chunks.

Columns
  held-back ms   worst, over every chunk, of (audio fed − audio emitted) plus the
                 measured signal delay (cross-correlation against an ideal
                 resampling): how much later the far end hears a sound.
  alias dB       24k→8k: worst level of a 4.5–11 kHz tone's alias relative to a
                 1 kHz tone of the same amplitude (more negative is better).
  image dB       8k→16k: worst level of the image of a 300–3400 Hz tone.
  ripple dB      worst |gain| deviation over 300–3400 Hz, both directions.
  chunk LSB      worst |20 ms-chunked output − one-shot output|: discontinuities
                 at chunk boundaries (clicks) show up here.
  µs/frame       median CPU time per 20 ms frame (resampling only), in / out.
"""

from __future__ import annotations

import statistics
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.signal
import soxr

from app.audio.convert import (
    DOWNSAMPLE_FILTER,
    UPSAMPLE_FILTER,
    InboundConverter,
    OutboundConverter,
    PolyphaseResampler,
)
from tests.support.signals import FloatArray, best_lag, db, tone, tone_amplitude, tone_amplitudes

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

Process = Callable[[FloatArray], FloatArray]


@dataclass(frozen=True)
class Approach:
    name: str
    make: Callable[[int, int], Process]  # (in_rate, out_rate) -> streaming process
    one_shot: Callable[[FloatArray, int, int], FloatArray]


def _ours(in_rate: int, out_rate: int) -> Process:
    if out_rate > in_rate:
        return PolyphaseResampler(UPSAMPLE_FILTER, up=out_rate // in_rate).process
    return PolyphaseResampler(DOWNSAMPLE_FILTER, down=in_rate // out_rate).process


def _soxr(quality: str) -> Callable[[int, int], Process]:
    def make(in_rate: int, out_rate: int) -> Process:
        stream = soxr.ResampleStream(in_rate, out_rate, 1, dtype="float64", quality=quality)
        return lambda x: stream.resample_chunk(x / 32768.0) * 32768.0

    return make


def _soxr_one_shot(quality: str) -> Callable[[FloatArray, int, int], FloatArray]:
    return lambda x, i, o: soxr.resample(x / 32768.0, i, o, quality=quality) * 32768.0


def _ratecv(in_rate: int, out_rate: int) -> Process:
    state = None

    def process(x: FloatArray) -> FloatArray:
        nonlocal state
        data = np.clip(np.rint(x), -32768, 32767).astype("<i2").tobytes()
        out, state = audioop.ratecv(data, 2, 1, in_rate, out_rate, state)
        return np.frombuffer(out, "<i2").astype(np.float64)

    return process


def _scipy_chunk(in_rate: int, out_rate: int) -> Process:
    return lambda x: scipy.signal.resample(x, len(x) * out_rate // in_rate) if len(x) else x


def _oneshot_from(
    make: Callable[[int, int], Process],
) -> Callable[[FloatArray, int, int], FloatArray]:
    return lambda x, i, o: make(i, o)(x)


APPROACHES = [
    Approach("this project (polyphase FIR)", _ours, _oneshot_from(_ours)),
    Approach("soxr HQ, streaming", _soxr("HQ"), _soxr_one_shot("HQ")),
    Approach("soxr QQ, streaming", _soxr("QQ"), _soxr_one_shot("QQ")),
    Approach("audioop.ratecv, stateful", _ratecv, _oneshot_from(_ratecv)),
    Approach(
        "scipy.signal.resample per chunk",
        _scipy_chunk,
        lambda x, i, o: scipy.signal.resample(x, len(x) * o // i),
    ),
]


def _band_limited_noise(rate: int, seconds: float, seed: int) -> FloatArray:
    rng = np.random.default_rng(seed)
    n = int(rate * seconds)
    spectrum = np.fft.rfft(rng.normal(0, 3000, n))
    spectrum[np.fft.rfftfreq(n, 1 / rate) > 3400] = 0
    result: FloatArray = np.fft.irfft(spectrum, n)
    return result


def _stream(process: Process, x: FloatArray, chunk: int) -> tuple[FloatArray, list[int]]:
    outs, emitted = [], []
    total = 0
    for i in range(0, len(x), chunk):
        y = process(x[i : i + chunk])
        outs.append(y)
        total += len(y)
        emitted.append(total)
    return np.concatenate(outs), emitted


def held_back_ms(a: Approach, in_rate: int, out_rate: int) -> float:
    chunk = in_rate // 50
    x = _band_limited_noise(in_rate, 1.0, seed=3)
    process = a.make(in_rate, out_rate)
    y, emitted = _stream(process, x, chunk)
    worst_buffer = max((i + 1) * 20.0 - n * 1000.0 / out_rate for i, n in enumerate(emitted))
    ideal = scipy.signal.resample(x, len(x) * out_rate // in_rate)
    lag = best_lag(ideal, y, out_rate // 100)
    return worst_buffer + 1000.0 * lag / out_rate


def _settled(a: Approach, x: FloatArray, in_rate: int, out_rate: int) -> FloatArray:
    y, _ = _stream(a.make(in_rate, out_rate), x, in_rate // 50)
    return y[out_rate // 10 : -out_rate // 10]


def alias_db(a: Approach) -> float:
    ref = tone_amplitude(_settled(a, tone(1013, 24000, 1.0), 24000, 8000), 8000, 1013)
    worst = -200.0
    for f in range(4513, 11001, 250):  # not whole cycles per 20 ms chunk
        y = _settled(a, tone(f, 24000, 1.0), 24000, 8000)
        alias = abs(f - 8000 * round(f / 8000))
        worst = max(worst, db(tone_amplitude(y, 8000, alias) / ref))
    return worst


def image_db(a: Approach) -> float:
    worst = -200.0
    for f in [*range(313, 3400, 100), 3400]:
        y = _settled(a, tone(f, 8000, 1.0), 8000, 16000)
        wanted, image = tone_amplitudes(y, 16000, [f, 8000 - f])
        worst = max(worst, db(image / wanted))
    return worst


def ripple_db(a: Approach) -> float:
    worst = 0.0
    for f in [*range(313, 3400, 100), 3400]:
        level = 32767 * 10 ** (-10 / 20)
        up = tone_amplitude(_settled(a, tone(f, 8000, 0.6), 8000, 16000), 16000, f)
        down = tone_amplitude(_settled(a, tone(f, 24000, 0.6), 24000, 8000), 8000, f)
        worst = max(worst, abs(db(up / level)), abs(db(down / level)))
    return worst


def chunk_lsb(a: Approach) -> float:
    worst = 0.0
    for in_rate, out_rate in ((8000, 16000), (24000, 8000)):
        x = tone(1013, in_rate, 1.0) + tone(2713, in_rate, 1.0, -20)
        streamed, _ = _stream(a.make(in_rate, out_rate), x, in_rate // 50)
        whole = a.one_shot(x, in_rate, out_rate)
        n = min(len(streamed), len(whole)) - out_rate // 20  # ignore the flushed tail
        worst = max(worst, float(np.max(np.abs(np.rint(streamed[:n]) - np.rint(whole[:n])))))
    return worst


def us_per_frame(a: Approach, in_rate: int, out_rate: int) -> float:
    return _median_us(a.make(in_rate, out_rate), tone(1013, in_rate, 0.02))


def _median_us(convert: Callable[[Any], Any], frame: Any) -> float:
    timings = []
    for _ in range(2000):
        start = time.perf_counter()
        convert(frame)
        timings.append(time.perf_counter() - start)
    return 1e6 * statistics.median(timings)


def main() -> None:
    header = (
        f"{'approach':34} {'held-back ms in/out':>20} {'alias dB':>9} {'image dB':>9}"
        f" {'ripple dB':>10} {'chunk LSB':>10} {'µs/frame in/out':>16}"
    )
    print(header)
    print("-" * len(header))
    for a in APPROACHES:
        hb_in, hb_out = held_back_ms(a, 8000, 16000), held_back_ms(a, 24000, 8000)
        us_in, us_out = us_per_frame(a, 8000, 16000), us_per_frame(a, 24000, 8000)
        print(
            f"{a.name:34} {hb_in:9.2f} / {hb_out:6.2f} {alias_db(a):9.1f} {image_db(a):9.1f}"
            f" {ripple_db(a):10.2f} {chunk_lsb(a):10.0f} {us_in:7.1f} / {us_out:6.1f}"
        )
    print(
        f"\nthis project's full converters (µ-law included), µs/frame: "
        f"in {_median_us(InboundConverter().convert, bytes(range(160))):.1f}, "
        f"out {_median_us(OutboundConverter().convert, bytes(960)):.1f}"
    )
    print(
        "goals: held-back ≤ 3 ms each way; alias and image ≤ −60 dB; ripple ≤ 1 dB;"
        " chunk ≤ 1 LSB; ≤ 30 µs/frame each way"
    )


if __name__ == "__main__":
    main()
