"""Stereo call recordings: caller on the left, agent on the right, as the caller heard.

The caller's 20 ms frames are the clock. Agent audio is placed where Twilio plays it:
right away if nothing is queued, otherwise after what is already queued; a ``clear``
cuts everything queued beyond the current moment (the interruption). Written as the
call goes: everything up to "now" is final and goes straight to the file, so only
the agent audio still queued for the future is held in memory.
"""

from __future__ import annotations

import tempfile
import wave
from pathlib import Path

import numpy as np

from app.audio import TWILIO_RATE, ulaw_to_pcm16


class StereoRecording:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._wav = wave.open(str(path), "wb")  # noqa: SIM115 - open for the whole call
        self._wav.setnchannels(2)
        self._wav.setsampwidth(2)
        self._wav.setframerate(TWILIO_RATE)
        self._now = 0  # samples of caller audio written so far
        self._queued = np.zeros(0, dtype="<i2")  # agent audio from `now` on

    def caller(self, ulaw: bytes) -> None:
        """Caller audio arrived: time moves on by its length, and that stretch is final."""
        left = np.frombuffer(ulaw_to_pcm16(ulaw), dtype="<i2")
        n = len(left)
        right = np.zeros(n, dtype="<i2")
        playing = self._queued[:n]
        right[: len(playing)] = playing
        self._queued = self._queued[n:]
        frames = np.empty(2 * n, dtype="<i2")
        frames[0::2], frames[1::2] = left, right
        self._wav.writeframes(frames.tobytes())
        self._now += n

    def agent(self, ulaw: bytes) -> None:
        """Agent audio sent to Twilio: it plays after whatever is already queued."""
        pcm = np.frombuffer(ulaw_to_pcm16(ulaw), dtype="<i2")
        self._queued = np.concatenate((self._queued, pcm))

    def clear(self) -> None:
        """Twilio dropped everything queued: the caller hears none of it."""
        self._queued = np.zeros(0, dtype="<i2")

    @property
    def seconds(self) -> float:
        return self._now / TWILIO_RATE

    def close(self) -> None:
        self._wav.close()


class RecordingsUnusable(Exception):
    """The recordings directory cannot take files; the message says why."""


def check_recordings_dir(directory: Path) -> None:
    """Create ``directory`` if needed and write a file in it, as each call will."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".write-check-"):
            pass
    except OSError as error:
        raise RecordingsUnusable(
            f"is not a writable directory ({error.strerror or error})"
        ) from None
