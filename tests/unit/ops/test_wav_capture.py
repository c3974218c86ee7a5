"""Reading a WAV recording for a capture: every PCM sample width on the 16-bit scale,
channels mixed, the rate converted, and each unusable file named in one sentence."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

from app.errors import ReplayError
from app.ops.wav_capture import MAX_SECONDS, read_wav

SAMPLES = np.array([0, 256, -256, 32512, -32768, 1024], dtype=np.int64)  # 16-bit scale


def encoded(width: int) -> bytes:
    if width == 1:
        return (SAMPLES // 256 + 128).astype(np.uint8).tobytes()
    if width == 2:
        return SAMPLES.astype("<i2").tobytes()
    if width == 3:
        return (SAMPLES << 8).astype("<i4").view(np.uint8).reshape(-1, 4)[:, :3].tobytes()
    return (SAMPLES << 16).astype("<i4").tobytes()


def write(path: Path, data: bytes, *, width: int, channels: int = 1, rate: int = 8000) -> Path:
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(width)
        wav.setframerate(rate)
        wav.writeframes(data)
    return path


@pytest.mark.parametrize("width", [1, 2, 3, 4])
def test_every_width_reads_on_the_16_bit_scale(tmp_path: Path, width: int) -> None:
    pcm = read_wav(write(tmp_path / "a.wav", encoded(width), width=width), 8000)
    assert np.frombuffer(pcm, dtype="<i2").tolist() == SAMPLES.tolist()


def test_channels_are_mixed(tmp_path: Path) -> None:
    left, right = SAMPLES.astype("<i2"), np.zeros(len(SAMPLES), dtype="<i2")
    stereo = np.stack([left, right], axis=1).tobytes()
    pcm = read_wav(write(tmp_path / "s.wav", stereo, width=2, channels=2), 8000)
    assert np.frombuffer(pcm, dtype="<i2").tolist() == [0, 128, -128, 16256, -16384, 512]


def test_the_rate_is_converted(tmp_path: Path) -> None:
    t = np.arange(44100) / 44100
    tone = (8000 * np.sin(2 * np.pi * 440 * t)).astype("<i2").tobytes()
    pcm = np.frombuffer(read_wav(write(tmp_path / "t.wav", tone, width=2, rate=44100), 8000), "<i2")
    assert abs(len(pcm) - 8000) <= 1
    spectrum = np.abs(np.fft.rfft(pcm[1000:7000] * np.hanning(6000)))
    assert abs(np.argmax(spectrum) * 8000 / 6000 - 440) < 2


def test_unusable_files_are_named(tmp_path: Path) -> None:
    (tmp_path / "text.wav").write_text("hello, this is not a recording")
    with pytest.raises(ReplayError, match=r"text.wav is not a PCM WAV file \(file does not"):
        read_wav(tmp_path / "text.wav", 8000)
    with pytest.raises(ReplayError, match=r"cannot read .*none.wav \(No such file"):
        read_wav(tmp_path / "none.wav", 8000)
    long = write(tmp_path / "long.wav", b"", width=1, rate=8)
    with wave.open(str(long), "wb") as wav:  # a header saying more than a call's length
        wav.setnchannels(1)
        wav.setsampwidth(1)
        wav.setframerate(8)
        wav.writeframes(b"\x80" * (MAX_SECONDS * 8 + 8))
    with pytest.raises(ReplayError, match=r"long\.wav is 15 minutes long: a capture is one call"):
        read_wav(long, 8000)
