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
from typing import BinaryIO

import numpy as np

from app.audio import TWILIO_RATE, ulaw_to_pcm16
from app.sids import is_call_sid

MAX_LEGS = 100


class StereoRecording:
    def __init__(self, path: Path, file: BinaryIO | None = None) -> None:
        """Record into ``file`` (opened for it), or into a new ``path``."""
        if file is None:
            path.parent.mkdir(parents=True, exist_ok=True)
            file = path.open("wb")
        self.path = path
        self._file = file  # wave does not close a file it was given
        self._wav = wave.open(file, "wb")  # noqa: SIM115 - open for the whole call
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
        try:
            self._wav.close()
        finally:
            self._file.close()


def open_recording(directory: Path, call_sid: str) -> StereoRecording:
    """A new recording of a call in ``directory``: ``CA….wav``, or ``CA…-2.wav`` and on
    when the CallSid comes back (a call redirected to the bot again, or a replayed
    webhook); an existing file is never overwritten. Only a well-formed CallSid names a
    file, and the file must sit in the directory itself."""
    if not is_call_sid(call_sid):
        raise ValueError(f"{call_sid!r} is not a CallSid")
    root = directory.resolve()
    for leg in range(1, MAX_LEGS + 1):
        path = root / (f"{call_sid}.wav" if leg == 1 else f"{call_sid}-{leg}.wav")
        if path.parent != root:
            raise ValueError(f"{path} is outside {root}")
        try:
            file = path.open("xb")  # exclusive: fails if it exists
        except FileExistsError:
            continue
        return StereoRecording(path, file)
    raise FileExistsError(f"{MAX_LEGS} recordings of {call_sid} exist already")


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
