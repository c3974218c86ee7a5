"""Local speech-onset detection on the caller's audio, for fast barge-in. Pure.

Gemini reports ``interrupted`` only after its own voice-activity detection has
decided, and that report travels back over the network. This detector watches the
inbound 8 kHz audio directly and can stop the agent's playback sooner. It must not
fire on line noise, keypad tones, or the agent's own voice leaking back from the
caller's handset (echo), so a frame counts as speech only if:

* its level is well above the line's tracked noise floor (``margin_db``);
* it is not tonal: keypad (DTMF) tones and hum put nearly all their energy in one or
  two narrow peaks, speech does not (``max_peak_fraction``);
* while the agent is audible, it is louder than the echo could be: the agent's level
  at that moment minus the echo loss expected of a phone line (``echo_loss_db``),
  plus the margin.

Onset is declared after ``onset_frames`` speech frames in a row (60 ms by default),
never during the first ``warmup_frames`` (while the line's noise floor is learnt).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FRAME_SAMPLES = 160  # 20 ms at 8 kHz


@dataclass(frozen=True)
class OnsetConfig:
    margin_db: float = 12.0
    min_level_dbfs: float = -45.0
    echo_loss_db: float = 20.0
    # DTMF puts ≥ 0.99 of a frame's energy in its two peaks; voiced speech (even
    # synthetic) stays below about 0.95.
    max_peak_fraction: float = 0.97
    onset_frames: int = 3
    noise_floor_start_dbfs: float = -60.0
    warmup_frames: int = 10  # learn the line's noise first (200 ms); no onset meanwhile


def level_dbfs(pcm: np.ndarray) -> float:
    rms = float(np.sqrt(np.mean(np.square(pcm, dtype=np.float64)))) if len(pcm) else 0.0
    return float(20 * np.log10(max(rms, 1e-3) / 32768.0))


def peak_fraction(pcm: np.ndarray) -> float:
    """Share of the frame's energy in its two strongest spectral peaks (±1 bin)."""
    spectrum = np.abs(np.fft.rfft(pcm * np.hanning(len(pcm)))) ** 2
    total = float(spectrum.sum())
    if total <= 0:
        return 0.0
    work = spectrum.copy()
    captured = 0.0
    for _ in range(2):
        k = int(np.argmax(work))
        lo, hi = max(0, k - 1), min(len(work), k + 2)
        captured += float(work[lo:hi].sum())
        work[lo:hi] = 0
    return captured / total


class OnsetDetector:
    def __init__(self, config: OnsetConfig | None = None) -> None:
        self.config = config or OnsetConfig()
        self._floor = self.config.noise_floor_start_dbfs
        self._run = 0
        self._seen = 0
        self._pending = np.zeros(0)

    def reset(self) -> None:
        self._run = 0

    def feed(self, pcm8k: np.ndarray, agent_level_dbfs: float | None) -> bool:
        """Feed caller audio (8 kHz samples); True on the frame that completes an onset.

        ``agent_level_dbfs`` is the level of the agent audio playing right now, or None.
        """
        samples = np.concatenate((self._pending, pcm8k)) if len(self._pending) else pcm8k
        fired = False
        whole = len(samples) - len(samples) % FRAME_SAMPLES
        for start in range(0, whole, FRAME_SAMPLES):
            fired |= self._frame(samples[start : start + FRAME_SAMPLES], agent_level_dbfs)
        self._pending = samples[whole:]
        return fired

    def _frame(self, frame: np.ndarray, agent_level: float | None) -> bool:
        c = self.config
        level = level_dbfs(frame)
        self._seen += 1
        if self._seen <= c.warmup_frames:
            self._floor = level if self._seen == 1 else max(self._floor, level)
            return False
        threshold = max(self._floor + c.margin_db, c.min_level_dbfs)
        if agent_level is not None:
            threshold = max(threshold, agent_level - c.echo_loss_db + c.margin_db)
        speech = level > threshold and peak_fraction(frame) < c.max_peak_fraction
        if not speech:
            # Track the floor: fall fast, rise slowly, only on non-speech frames.
            rate = 0.5 if level < self._floor else 0.02
            self._floor += rate * (level - self._floor)
            self._run = 0
            return False
        self._run += 1
        return self._run == c.onset_frames
