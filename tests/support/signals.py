"""Test signals and exact measurements shared by the tests and ``bench/``."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


def tone(freq: float, rate: int, seconds: float, dbfs: float = -10.0) -> FloatArray:
    """A sine at ``dbfs`` relative to a full-scale int16 sine."""
    t = np.arange(int(rate * seconds)) / rate
    amplitude: float = 32767 * 10 ** (dbfs / 20)
    result: FloatArray = amplitude * np.sin(2 * np.pi * freq * t)
    return result


def to_pcm16(samples: FloatArray) -> bytes:
    return np.clip(np.rint(samples), -32768, 32767).astype("<i2").tobytes()


def from_pcm16(data: bytes) -> FloatArray:
    return np.frombuffer(data, dtype="<i2").astype(np.float64)


def tone_amplitudes(signal: FloatArray, rate: int, freqs: list[float]) -> list[float]:
    """Amplitude of each of ``freqs``, by a joint least-squares sine/cosine fit.

    Fitting the frequencies together keeps a strong tone from leaking into the
    estimate of a weak one (what a single-frequency fit over a finite window does).
    """
    t = np.arange(len(signal)) / rate
    basis = np.column_stack([f(2 * np.pi * freq * t) for freq in freqs for f in (np.sin, np.cos)])
    coef, *_ = np.linalg.lstsq(basis, signal, rcond=None)
    return [float(np.hypot(coef[2 * i], coef[2 * i + 1])) for i in range(len(freqs))]


def tone_amplitude(signal: FloatArray, rate: int, freq: float) -> float:
    return tone_amplitudes(signal, rate, [freq])[0]


def db(ratio: float) -> float:
    return float(20 * np.log10(max(ratio, 1e-12)))


def snr_db(reference: FloatArray, actual: FloatArray) -> float:
    """SNR of ``actual`` against ``reference`` (same length, already aligned)."""
    noise = actual - reference
    return float(10 * np.log10(np.sum(reference**2) / max(float(np.sum(noise**2)), 1e-12)))


def best_lag(reference: FloatArray, actual: FloatArray, max_lag: int) -> int:
    """The lag (samples ``actual`` runs late) maximising their correlation."""

    def score(lag: int) -> float:
        a = actual[lag:] if lag >= 0 else actual
        r = reference if lag >= 0 else reference[-lag:]
        n = min(len(a), len(r))
        return float(np.dot(r[:n], a[:n]))

    scores = [score(lag) for lag in range(-max_lag, max_lag + 1)]
    return int(np.argmax(scores)) - max_lag


def normalised_correlation(a: FloatArray, b: FloatArray) -> float:
    n = min(len(a), len(b))
    a, b = a[:n], b[:n]
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))
