"""Keypad tones in the caller's audio, found so that a recording can leave them out.

``REDACT_DTMF`` keeps the digits a caller presses (PINs, card numbers) out of the logs
and the call records; when the phone sends the keys in the audio as well, a recording
would keep the tones, and a tone names its digit to anyone with a spectrum analyser.
:class:`KeypadTones` looks at each caller frame for the two sine waves of a keypad
key (one from the low group, one from the high) and says which frames to mute: a
frame with a tone, the frame before it (a tone that began in its last milliseconds
is too short to be found there, yet long enough to name its digit) and the frames
just after it (its fading tail). Pure: PCM in, decisions out; any sample rate.

A frame holds a tone when one low and one high keypad frequency together carry
most of its energy (speech spreads its energy over many harmonics and never
concentrates it on two of these eight frequencies) and it is louder than a quiet
line's noise.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt

LOW = (697.0, 770.0, 852.0, 941.0)  # the rows of the keypad, Hz
HIGH = (1209.0, 1336.0, 1477.0, 1633.0)  # its columns
KEYS = ("123A", "456B", "789C", "*0#D")  # KEYS[row][column]

SHARE = 0.7  # of the frame's energy in the two strongest keypad frequencies
EACH = 0.15  # of it in each of the two: a key is two tones, not one
FLOOR = 100.0  # RMS, of 32768: quieter than this is a line's noise, not a key
AFTER = 2  # frames muted after the last one with a tone


def tone_shares(pcm: npt.NDArray[np.int16], rate: int) -> npt.NDArray[np.float64]:
    """The share of the frame's energy at each keypad frequency (LOW then HIGH): about
    1.0 at the frequency of a pure sine wave, about 0.5 at each of a key's two."""
    samples = pcm.astype(np.float64)
    return _shares(samples, float(np.dot(samples, samples)), rate)


def _shares(samples: npt.NDArray[np.float64], energy: float, rate: int) -> npt.NDArray[np.float64]:
    if energy == 0.0:
        return np.zeros(len(LOW) + len(HIGH))
    power = np.abs(_basis(rate, len(samples)) @ samples) ** 2
    result: npt.NDArray[np.float64] = 2.0 * power / (len(samples) * energy)
    return result


@lru_cache(maxsize=8)
def _basis(rate: int, length: int) -> npt.NDArray[np.complex128]:
    """The eight keypad frequencies' complex sines over one frame (made once per frame
    size: a call's frames are all alike)."""
    n = np.arange(length)
    result: npt.NDArray[np.complex128] = np.exp(-2j * np.pi * np.outer(LOW + HIGH, n) / rate)
    return result


def key_in(pcm: npt.NDArray[np.int16], rate: int) -> str | None:
    """The key whose tone this frame holds, or None."""
    samples = pcm.astype(np.float64)
    energy = float(np.dot(samples, samples))
    # Silent (or empty), or an RMS under the floor: a line's noise, not a key.
    if energy == 0.0 or energy < FLOOR**2 * len(samples):
        return None
    shares = _shares(samples, energy, rate)
    low, high = shares[: len(LOW)], shares[len(LOW) :]
    row, column = int(np.argmax(low)), int(np.argmax(high))
    if low[row] < EACH or high[column] < EACH or low[row] + high[column] < SHARE:
        return None
    return KEYS[row][column]


@dataclass(frozen=True, slots=True)
class Mute:
    this: bool  # mute the frame just given
    previous: bool  # and the one before it


class KeypadTones:
    """Frame by frame, which of a caller's frames to mute (see the module's text)."""

    def __init__(self, rate: int) -> None:
        self._rate = rate
        self._after = 0  # frames still to mute after the last tone
        self._started = False  # a frame came before this one

    def frame(self, pcm: npt.NDArray[np.int16]) -> Mute:
        tone = key_in(pcm, self._rate) is not None
        # The previous frame, if there is one and it is not muted already.
        previous = tone and self._after == 0 and self._started
        self._started = True
        this = tone or self._after > 0
        self._after = AFTER if tone else max(self._after - 1, 0)
        return Mute(this=this, previous=previous)
