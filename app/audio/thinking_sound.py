"""The sound a caller hears while the agent works: built in (generated here, so no
recording and no licence), or an operator's WAV file converted once. Pure: bytes in,
8 kHz µ-law out.

The built-in one is a soft, slow figure of four bell-like notes in the telephone band
(each a sine with a quieter octave, a 5 ms attack and a 150 ms decay), peaking at
−26 dBFS, 3.2 s long and silent at both ends so it loops without a seam. It is the same,
byte for byte, on every run.
"""

from __future__ import annotations

import io
import math
import wave

import numpy as np
import numpy.typing as npt

from app.audio.convert import TWILIO_RATE, pcm16_to_ulaw

FloatArray = npt.NDArray[np.float64]

NOTES_HZ = (587.33, 739.99, 880.0, 739.99)  # D5, F#5, A5, F#5
NOTE_S = 0.8  # one note every 0.8 s: a 3.2 s loop
ATTACK_S = 0.005
DECAY_S = 0.15
OCTAVE_LEVEL = 0.25  # the octave above, relative to the note
PEAK_DBFS = -26.0
MAX_FILE_SECONDS = 60.0  # a longer file is not a "thinking" sound, and costs memory
HALF_TAPS = 16  # the converting filter's half length, at the lower of the two rates
KAISER_BETA = 8.0


class SoundFileError(ValueError):
    """A WAV file that cannot become the thinking sound; the message says why."""


def built_in() -> bytes:
    """The built-in thinking sound: 3.2 s of 8 kHz µ-law that loops seamlessly."""
    n = round(TWILIO_RATE * NOTE_S * len(NOTES_HZ))
    t = np.arange(n) / TWILIO_RATE
    signal = np.zeros(n)
    for index, hz in enumerate(NOTES_HZ):
        local = t - index * NOTE_S
        on = local >= 0
        age = local[on]
        envelope = (1 - np.exp(-age / ATTACK_S)) * np.exp(-age / DECAY_S)
        tone = np.sin(2 * np.pi * hz * age) + OCTAVE_LEVEL * np.sin(4 * np.pi * hz * age)
        signal[on] += envelope * tone
    peak = 32767 * 10 ** (PEAK_DBFS / 20)
    return _ulaw(signal * peak / np.max(np.abs(signal)))


def from_wav(data: bytes) -> bytes:
    """An operator's WAV file (PCM, 8 to 32 bits, any rate, mono or more channels mixed
    down) as 8 kHz µ-law; :class:`SoundFileError` says why one cannot be used."""
    try:
        with wave.open(io.BytesIO(data)) as wav:
            channels, width, rate = wav.getnchannels(), wav.getsampwidth(), wav.getframerate()
            frames = wav.readframes(wav.getnframes())
    except (wave.Error, EOFError) as error:
        why = str(error) or "it ends too early"
        raise SoundFileError(f"is not a PCM WAV file ({why}): save it as 16-bit PCM WAV") from None
    if rate <= 0:  # (the wave module refuses a file with no channels itself)
        raise SoundFileError(f"declares a rate of {rate} Hz")
    # A file cut short may end inside a frame: only whole frames are read.
    whole = len(frames) // (width * channels) * (width * channels)
    mono = _linear(frames[:whole], width).reshape(-1, channels).mean(axis=1)
    if not len(mono):
        raise SoundFileError("holds no audio")
    if len(mono) > MAX_FILE_SECONDS * rate:
        seconds = len(mono) / rate
        raise SoundFileError(
            f"is {seconds:.1f} s long: use a short loop (at most {MAX_FILE_SECONDS:.0f} s)"
        )
    return _ulaw(resample(mono, rate, TWILIO_RATE))


def _linear(frames: bytes, width: int) -> FloatArray:
    """PCM samples of ``width`` bytes (8-bit unsigned, wider signed LE) on the 16-bit
    scale: each sample's top two bytes read as a signed 16-bit number, with the bytes
    below them as its fraction."""
    if width == 1:
        return (np.frombuffer(frames, dtype=np.uint8).astype(np.float64) - 128) * 256
    if width not in (2, 3, 4):
        raise SoundFileError(f"has {8 * width}-bit samples: save it as 16-bit PCM WAV")
    raw = np.frombuffer(frames, dtype=np.uint8).reshape(-1, width)
    padded = np.zeros((len(raw), 4), dtype=np.uint8)  # into the top bytes of an int32
    padded[:, 4 - width :] = raw
    return padded.view("<i4")[:, 0] / 65536


def resample(samples: FloatArray, rate: int, to_rate: int) -> FloatArray:
    """One-shot conversion between any two rates: a Kaiser-windowed sinc evaluated at
    each output instant, its cutoff at 90 % of the lower Nyquist frequency (so what
    the lower rate cannot carry is filtered out, not folded back)."""
    if rate == to_rate:
        return samples
    ratio = to_rate / rate
    scale = min(1.0, ratio)  # filter in input samples: wider when the rate goes down
    cutoff = 0.45 * scale  # cycles per input sample
    half = math.ceil(HALF_TAPS / scale)
    n_out = int(len(samples) * ratio)
    padded = np.concatenate((np.zeros(half), samples, np.zeros(half)))
    offsets = np.arange(-half + 1, half + 1)
    out = np.empty(n_out)
    for start in range(0, n_out, 4096):
        position = np.arange(start, min(n_out, start + 4096)) / ratio
        index = np.floor(position).astype(np.int64)[:, None] + offsets[None, :]
        distance = position[:, None] - index
        # |distance| <= half for every tap: the square root's argument is never negative
        window = np.i0(KAISER_BETA * np.sqrt(1 - (distance / half) ** 2))
        taps = 2 * cutoff * np.sinc(2 * cutoff * distance) * window / np.i0(KAISER_BETA)
        out[start : start + len(position)] = (taps * padded[index + half]).sum(axis=1)
    return out


def _ulaw(samples: FloatArray) -> bytes:
    pcm = np.clip(np.rint(samples), -32768, 32767).astype("<i2").tobytes()
    return pcm16_to_ulaw(pcm)
