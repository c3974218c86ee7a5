"""Stereo call recordings: caller on the left, agent on the right, as the caller heard.

The caller's 20 ms frames are the clock. Agent audio is placed where Twilio plays it:
right away if nothing is queued, otherwise after what is already queued; a ``clear``
cuts everything queued beyond the current moment (the interruption). Written as the
call goes: everything up to "now" is final and goes straight to the file, so only
the agent audio still queued for the future is held in memory (and, to mute a
keypad tone that began at its very end, the caller's last frame).

With ``REDACT_DTMF`` the caller's keypad tones are muted in the recording
(app/audio/keypad_tones.py), as their digits are kept out of the logs and records.
"""

from __future__ import annotations

import logging
import tempfile
import wave
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from app.audio.convert import TWILIO_RATE, ulaw_to_pcm16
from app.audio.keypad_tones import KeypadTones
from app.call.actions import (
    AgentAudioSent,
    CallBegan,
    CallerAudio,
    PlaybackCleared,
    Report,
    ThinkingAudioSent,
)
from app.errors import RecordingsUnusable
from app.sinks.writer import SETTLE_TIMEOUT_S, DiskWriter, OnError
from app.telephony.sids import is_call_sid

MAX_LEGS = 100


class StereoTimeline:
    """Where each sample plays, as the caller hears it. Pure: audio in, the stereo frames
    that have become final out."""

    def __init__(self) -> None:
        self.samples = 0  # caller samples so far: the recording's length
        self._queued = np.zeros(0, dtype="<i2")  # agent audio from now on

    def caller(self, ulaw: bytes) -> bytes:
        """Caller audio arrived: time moves on by its length, and that stretch is final."""
        left = np.frombuffer(ulaw_to_pcm16(ulaw), dtype="<i2")
        n = len(left)
        right = np.zeros(n, dtype="<i2")
        playing = self._queued[:n]
        right[: len(playing)] = playing
        self._queued = self._queued[n:]
        frames = np.empty(2 * n, dtype="<i2")
        frames[0::2], frames[1::2] = left, right
        self.samples += n
        return frames.tobytes()

    def agent(self, ulaw: bytes) -> None:
        """Agent audio sent to Twilio: it plays after whatever is already queued."""
        pcm = np.frombuffer(ulaw_to_pcm16(ulaw), dtype="<i2")
        self._queued = np.concatenate((self._queued, pcm))

    def clear(self) -> None:
        """Twilio dropped everything queued: the caller hears none of it."""
        self._queued = np.zeros(0, dtype="<i2")

    @property
    def seconds(self) -> float:
        return self.samples / TWILIO_RATE


def silence_caller(stereo: bytes) -> bytes:
    """The same stereo frames with the caller's channel (the left) silent."""
    samples = np.frombuffer(stereo, dtype="<i2").copy()
    samples[0::2] = 0
    return samples.tobytes()


class WavFile:
    """A stereo 8 kHz WAV being written; ``file`` is closed with it."""

    def __init__(self, path: Path, file: BinaryIO) -> None:
        self.path = path
        self._file = file  # wave does not close a file it was given
        self._wav = wave.open(file, "wb")  # noqa: SIM115 - open for the whole call
        self._wav.setnchannels(2)
        self._wav.setsampwidth(2)
        self._wav.setframerate(TWILIO_RATE)

    def write(self, frames: bytes) -> None:
        self._wav.writeframes(frames)

    def close(self) -> None:
        try:
            self._wav.close()
        finally:
            self._file.close()


class StereoRecording:
    """A recording written as it goes, on the caller's clock (``python -m app replay``)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._timeline = StereoTimeline()
        self._wav = WavFile(path, path.open("wb"))

    def caller(self, ulaw: bytes) -> None:
        self._wav.write(self._timeline.caller(ulaw))

    def agent(self, ulaw: bytes) -> None:
        self._timeline.agent(ulaw)

    def clear(self) -> None:
        self._timeline.clear()

    @property
    def seconds(self) -> float:
        return self._timeline.seconds

    def close(self) -> None:
        self._wav.close()


def recording_path(directory: Path, call_sid: str, leg: int) -> Path:
    """Where leg ``leg`` (from 1) of a call is recorded: ``CA….wav``, ``CA…-2.wav``, …
    Only a well-formed CallSid names a file, and the file sits in the directory itself."""
    if not is_call_sid(call_sid):
        raise ValueError(f"{call_sid!r} is not a CallSid")
    root = directory.resolve()
    path = root / (f"{call_sid}.wav" if leg == 1 else f"{call_sid}-{leg}.wav")
    if path.parent != root:
        raise ValueError(f"{path} is outside {root}")
    return path


def latest_recording(directory: Path, call_sid: str) -> Path | None:
    """The call's latest leg's recording, if there is one."""
    found = None
    for leg in range(1, MAX_LEGS + 1):
        path = recording_path(directory, call_sid, leg)
        if not path.is_file():
            break
        found = path
    return found


def open_recording(directory: Path, call_sid: str) -> WavFile:
    """A new recording of a call in ``directory``: ``CA….wav``, or ``CA…-2.wav`` and on
    when the CallSid comes back (a call redirected to the bot again, or a replayed
    webhook); an existing file is never overwritten."""
    for leg in range(1, MAX_LEGS + 1):
        path = recording_path(directory, call_sid, leg)
        try:
            file = path.open("xb")  # exclusive: fails if it exists
        except FileExistsError:
            continue
        return WavFile(path, file)
    raise FileExistsError(f"{MAX_LEGS} recordings of {call_sid} exist already")


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


FLUSH_SAMPLES = TWILIO_RATE // 2  # hand the writer half a second at a time


class RecordingSink:
    """A call's audio into its recording: the timeline is kept on the event loop (cheap,
    in memory); the file is opened and written on the disk writer's thread."""

    name = "recording"

    def __init__(
        self,
        directory: Path,
        writer: DiskWriter,
        failed: OnError,
        log: logging.LoggerAdapter[Any] | logging.Logger,
        *,
        mute_keypad: bool = False,
    ) -> None:
        self._directory = directory
        self._writer = writer
        self._failed = failed
        self._log = log
        self._keypad = KeypadTones(TWILIO_RATE) if mute_keypad else None  # one sink, one call
        self._timeline: StereoTimeline | None = None
        self._wav: WavFile | None = None  # touched only on the writer's thread
        self._pending = bytearray()
        self._last = 0  # bytes of the caller's last frame, at the end of _pending
        self._muted = 0  # caller samples muted (keypad tones)

    def report(self, report: Report) -> None:
        timeline = self._timeline
        if isinstance(report, CallBegan):
            self._timeline = StereoTimeline()
            call_sid = report.start.call_sid
            self._writer.submit(lambda: self._open(call_sid), self._failed)
        elif timeline is None:
            return
        elif isinstance(report, CallerAudio):
            stereo = timeline.caller(report.ulaw)
            if self._keypad is not None:
                stereo = self._without_keypad_tones(self._keypad, stereo)
            self._pending += stereo
            self._last = len(stereo)
            if len(self._pending) >= 4 * FLUSH_SAMPLES:  # 2 channels of 2 bytes
                self._flush(keep=self._last)
        elif isinstance(report, (AgentAudioSent, ThinkingAudioSent)):
            timeline.agent(report.ulaw)  # the thinking sound too: it is what the caller heard
        elif isinstance(report, PlaybackCleared):
            timeline.clear()

    def _without_keypad_tones(self, keypad: KeypadTones, stereo: bytes) -> bytes:
        mute = keypad.frame(np.frombuffer(stereo, dtype="<i2")[0::2])  # the caller's channel
        if mute.previous and self._last:
            start = len(self._pending) - self._last
            self._pending[start:] = silence_caller(bytes(self._pending[start:]))
            self._muted += self._last // 4
        if mute.this:
            self._muted += len(stereo) // 4
            return silence_caller(stereo)
        return stereo

    def _open(self, call_sid: str) -> None:
        self._wav = open_recording(self._directory, call_sid)

    def _flush(self, keep: int = 0) -> None:
        """Hand the writer what is final; ``keep`` bytes at the end stay (the caller's
        last frame, which a tone in the next one may still mute)."""
        cut = len(self._pending) - keep
        frames, self._pending = bytes(self._pending[:cut]), self._pending[cut:]
        self._writer.submit(lambda: self._write(frames), self._failed)

    def _write(self, frames: bytes) -> None:
        if self._wav is not None:  # else opening failed, and that was reported
            self._wav.write(frames)

    def _close(self) -> None:
        if self._wav is not None:
            self._wav.close()

    async def close(self) -> None:
        if self._timeline is None:
            return
        self._flush()
        self._writer.submit(self._close, self._failed)
        if not await self._writer.drain(SETTLE_TIMEOUT_S):
            self._log.warning("the recording is still being written; the call ends without it")
        elif self._wav is not None:
            muted = (
                f"; {self._muted / TWILIO_RATE:.2f} s of keypad tones muted"
                if self._keypad is not None
                else ""
            )
            self._log.info(
                "recording: %s (%.1f s%s)", self._wav.path, self._timeline.seconds, muted
            )
