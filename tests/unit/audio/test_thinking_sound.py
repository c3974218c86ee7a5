"""The thinking sound: the built-in one's exact properties, and WAV files of every kind."""

from __future__ import annotations

import io
import wave

import numpy as np
import pytest

from app.audio import thinking_sound as ts
from app.audio.convert import TWILIO_RATE, ulaw_to_pcm16


def pcm(ulaw: bytes) -> np.ndarray:
    return np.frombuffer(ulaw_to_pcm16(ulaw), dtype="<i2").astype(np.float64)


def wav(samples: bytes, *, rate: int, width: int = 2, channels: int = 1) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as file:
        file.setnchannels(channels)
        file.setsampwidth(width)
        file.setframerate(rate)
        file.writeframes(samples)
    return out.getvalue()


def tone(hz: float, rate: int, seconds: float = 1.0, level: float = 10000) -> np.ndarray:
    return np.sin(2 * np.pi * hz * np.arange(int(rate * seconds)) / rate) * level


def level_db(samples: np.ndarray) -> float:
    return float(20 * np.log10(np.sqrt(np.mean(samples**2)) + 1e-9))


def dominant_hz(samples: np.ndarray, rate: int = TWILIO_RATE) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.argmax(spectrum) * rate / len(samples))


def test_the_built_in_sound_loops_seamlessly_at_a_soft_level() -> None:
    sound = ts.built_in()
    assert sound == ts.built_in()  # the same bytes on every call
    assert len(sound) == 3.2 * TWILIO_RATE == 160 * 160  # whole 20 ms frames
    samples = pcm(sound)
    peak_dbfs = 20 * np.log10(np.max(np.abs(samples)) / 32768)
    assert -27.0 < peak_dbfs < -25.5
    assert samples[0] == 0 and np.max(np.abs(samples[-16:])) < 40  # no seam where it loops
    notes = [dominant_hz(samples[int(i * 6400) : int(i * 6400) + 2400]) for i in range(4)]
    assert notes == pytest.approx(ts.NOTES_HZ, abs=4)
    # each note decays: its second half far quieter than its first
    first = samples[:3200]
    assert level_db(first[1600:]) < level_db(first[:1600]) - 10


@pytest.mark.parametrize("rate", [8000, 11025, 16000, 22050, 44100, 48000])
def test_a_wav_file_at_any_rate_keeps_its_tone_and_level(rate: int) -> None:
    source = tone(1000, rate)
    sound = ts.from_wav(wav(source.astype("<i2").tobytes(), rate=rate))
    assert abs(len(sound) - TWILIO_RATE) <= 1
    samples = pcm(sound)[400:-400]
    assert dominant_hz(samples) == pytest.approx(1000, abs=2)
    assert level_db(samples) == pytest.approx(level_db(source), abs=0.3)


@pytest.mark.parametrize("rate", [16000, 44100, 48000])
def test_what_eight_kilohertz_cannot_carry_is_filtered_out_not_folded_back(rate: int) -> None:
    sound = ts.from_wav(wav(tone(5000, rate).astype("<i2").tobytes(), rate=rate))
    assert level_db(pcm(sound)[400:-400]) < level_db(tone(5000, rate)) - 50


@pytest.mark.parametrize(
    ("width", "encode"),
    [
        (1, lambda x: (np.rint(x / 256) + 128).astype(np.uint8).tobytes()),
        (2, lambda x: x.astype("<i2").tobytes()),
        (3, lambda x: b"".join(int(v * 256).to_bytes(3, "little", signed=True) for v in x)),
        (4, lambda x: (x * 65536).astype("<i4").tobytes()),
    ],
)
def test_every_pcm_sample_width_reads_on_the_same_scale(width: int, encode: object) -> None:
    source = np.rint(tone(440, 8000, 0.25))
    sound = ts.from_wav(wav(encode(source), rate=8000, width=width))  # type: ignore[operator]
    error = pcm(sound) - source
    assert np.max(np.abs(error)) <= 0.04 * 10000  # within µ-law's own step at that level


def test_channels_are_mixed_down() -> None:
    left, right = tone(440, 8000, 0.5), -tone(440, 8000, 0.5) * 0.5
    frames = np.empty(2 * len(left))
    frames[0::2], frames[1::2] = left, right
    sound = ts.from_wav(wav(frames.astype("<i2").tobytes(), rate=8000, channels=2))
    assert level_db(pcm(sound)) == pytest.approx(level_db(left * 0.25), abs=0.3)


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"not a wav at all", "is not a PCM WAV file"),
        (b"RIFF\x24\x00\x00\x00WAVEfmt ", "is not a PCM WAV file"),
        (wav(b"", rate=8000), "holds no audio"),
        (wav(b"\0\0" * 8000 * 61, rate=8000), "is 61 s long"),
    ],
)
def test_files_that_cannot_be_used_say_why(data: bytes, says: str) -> None:
    with pytest.raises(ts.SoundFileError, match=says):
        ts.from_wav(data)


def test_a_float_wav_is_refused_with_the_fix() -> None:
    data = bytearray(wav(b"\0\0\0\0" * 100, rate=8000, width=4))
    data[20:22] = (3).to_bytes(2, "little")  # WAVE_FORMAT_IEEE_FLOAT
    with pytest.raises(ts.SoundFileError, match="save it as 16-bit PCM WAV"):
        ts.from_wav(bytes(data))


def test_resampling_to_the_same_rate_changes_nothing() -> None:
    samples = tone(300, 8000, 0.1)
    assert np.array_equal(ts.resample(samples, 8000, 8000), samples)
