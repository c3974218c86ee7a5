"""Your own recording as a caller: ``python -m app make-capture voice.wav --out call.json``.

Reads a PCM WAV file (any rate, 8/16/24/32-bit, mono or more channels, which are
mixed), resamples it to the phone's 8 kHz, encodes it as µ-law and frames it as
Twilio would (``app.telephony.captures``), so ``python -m app replay call.json``
plays it to the bot as a caller's stream. The stand-in's ``--reply`` uses the same
reading, at 24 kHz.
"""

from __future__ import annotations

import json
import wave
from pathlib import Path

import numpy as np
import soxr

from app.audio.convert import TWILIO_RATE, pcm16_to_ulaw
from app.errors import ReplayError
from app.telephony.captures import FRAME_S, build_capture

MAX_SECONDS = 15 * 60  # a capture is a call; longer is surely the wrong file


def read_wav(path: Path, rate: int) -> bytes:
    """The file's audio as mono 16-bit PCM at ``rate``; :class:`ReplayError` naming
    what is wrong with the file."""
    try:
        with wave.open(str(path), "rb") as wav:
            channels, width = wav.getnchannels(), wav.getsampwidth()
            source_rate, frames = wav.getframerate(), wav.getnframes()
            if frames > MAX_SECONDS * source_rate:
                raise ReplayError(
                    f"{path} is {frames / source_rate / 60:.0f} minutes long: a capture is one"
                    f" call, at most {MAX_SECONDS // 60} minutes"
                )
            data = wav.readframes(frames)
    except OSError as error:
        raise ReplayError(f"cannot read {path} ({error.strerror or error})") from None
    except (wave.Error, EOFError) as error:
        why = f" ({error})" if str(error) else ""
        raise ReplayError(
            f"{path} is not a PCM WAV file{why}: convert it first, e.g. with"
            " `sox in.mp3 -b 16 out.wav` or `ffmpeg -i in.m4a out.wav`"
        ) from None
    if width not in (1, 2, 3, 4):
        raise ReplayError(f"{path} has {8 * width}-bit samples: use 8, 16, 24 or 32-bit PCM")
    samples = _as_float(data, width).reshape(-1, channels).mean(axis=1)
    if source_rate != rate:
        samples = soxr.resample(samples, source_rate, rate, quality="HQ")
    pcm: bytes = np.clip(np.rint(samples), -32768, 32767).astype("<i2").tobytes()
    return pcm


def _as_float(data: bytes, width: int) -> np.ndarray:
    """Samples as floats on the 16-bit scale, whatever their width."""
    if width == 1:  # unsigned, centred on 128
        return (np.frombuffer(data, dtype=np.uint8).astype(np.float64) - 128) * 256
    if width == 3:  # little-endian 24-bit: widen to 32 by putting a zero byte below
        triples = np.frombuffer(data, dtype=np.uint8).reshape(-1, 3)
        padded = np.zeros((len(triples), 4), dtype=np.uint8)
        padded[:, 1:] = triples
        return padded.view("<i4").reshape(-1).astype(np.float64) / 65536
    kind = "<i2" if width == 2 else "<i4"
    return np.frombuffer(data, dtype=kind).astype(np.float64) / (1 if width == 2 else 65536)


def make_capture(wav_path: Path, out: Path) -> float:
    """Write the capture; the seconds of caller audio in it."""
    ulaw = pcm16_to_ulaw(read_wav(wav_path, TWILIO_RATE))
    if not ulaw:
        raise ReplayError(f"{wav_path} holds no audio")
    frames = build_capture(ulaw)
    try:
        out.write_text(json.dumps(frames, indent=1) + "\n", encoding="utf-8")
    except OSError as error:
        raise ReplayError(f"cannot write {out} ({error.strerror or error})") from None
    return sum(1 for f in frames if f["event"] == "media") * FRAME_S
