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
        (wav(b"\0\0" * 8000 * 61, rate=8000), "is 61.0 s long: use a short loop"),
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


@pytest.mark.parametrize(
    ("width", "data", "values"),
    [
        (1, bytes([0, 128, 255, 129]), [-32768, 0, 32512, 256]),
        (2, (1).to_bytes(2, "little") + (-2).to_bytes(2, "little", signed=True), [1, -2]),
        (
            3,
            b"".join(
                v.to_bytes(3, "little", signed=True) for v in (256, -256, 2**23 - 1, -(2**23), 128)
            ),
            [1.0, -1.0, 32767.99609375, -32768.0, 0.5],
        ),
        (
            4,
            b"".join(
                v.to_bytes(4, "little", signed=True) for v in (65536, -65536, 2**31 - 1, 32768)
            ),
            [1.0, -1.0, 32767.9999847412109375, 0.5],
        ),
    ],
)
def test_each_sample_width_reads_exactly_on_the_16_bit_scale(
    width: int, data: bytes, values: list[float]
) -> None:
    assert ts._linear(data, width).tolist() == values


@pytest.mark.parametrize("width", [5, 8])
def test_wider_samples_are_refused_with_the_fix(width: int) -> None:
    with pytest.raises(ts.SoundFileError) as refused:
        ts._linear(b"\0" * width * 2, width)
    assert str(refused.value) == f"has {8 * width}-bit samples: save it as 16-bit PCM WAV"


def test_stereo_is_the_mean_of_its_channels_sample_by_sample() -> None:
    frames = np.array([1000, 3000, -2000, -1000, 8, 8], dtype="<i2").tobytes()
    sound = ts.from_wav(wav(frames, rate=8000, channels=2))
    assert pcm(sound).tolist() == pcm(ts._ulaw(np.array([2000.0, -1500.0, 8.0]))).tolist()


def test_a_file_cut_inside_a_frame_keeps_its_whole_frames() -> None:
    whole = wav(np.array([100, 200, 300], dtype="<i2").tobytes(), rate=8000, channels=1)
    cut = whole[:-1]  # the last sample's second byte is missing
    assert ts.from_wav(cut) == ts._ulaw(np.array([100.0, 200.0]))


def test_a_loop_of_exactly_the_longest_length_is_taken() -> None:
    assert len(ts.from_wav(wav(b"\0\0" * 8000 * 60, rate=8000))) == 8000 * 60
    with pytest.raises(ts.SoundFileError, match=r"is 60\.0 s long"):
        ts.from_wav(wav(b"\0\0" * (8000 * 60 + 1), rate=8000))


def test_a_rate_of_zero_is_refused() -> None:
    data = bytearray(wav(b"\0\0" * 10, rate=8000))
    data[24:28] = (0).to_bytes(4, "little")  # the fmt chunk's sample rate
    with pytest.raises(ts.SoundFileError) as refused:
        ts.from_wav(bytes(data))
    assert str(refused.value) == "declares a rate of 0 Hz"


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"RIFF", "it ends too early"),  # EOFError, with no message of its own
        (b"", "it ends too early"),
        (b"RIFF\x24\x00\x00\x00WAVX", "not a WAVE file"),
        (b"not a wav at all", "file does not start with RIFF id"),
    ],
)
def test_what_is_not_a_wav_says_why(data: bytes, why: str) -> None:
    with pytest.raises(ts.SoundFileError) as refused:
        ts.from_wav(data)
    assert str(refused.value) == f"is not a PCM WAV file ({why}): save it as 16-bit PCM WAV"


def test_a_file_with_no_frames_says_so() -> None:
    with pytest.raises(ts.SoundFileError) as refused:
        ts.from_wav(wav(b"", rate=16000))
    assert str(refused.value) == "holds no audio"


def test_any_positive_rate_is_taken() -> None:
    assert len(ts.from_wav(wav(b"\0\0" * 3, rate=1))) == 3 * 8000


def test_levels_beyond_16_bits_are_clipped_not_wrapped() -> None:
    loud = ts._ulaw(np.array([40000.0, -40000.0, 32767.4, -32768.4]))
    assert pcm(loud).tolist() == pcm(ts._ulaw(np.array([32767.0, -32768.0] * 2))).tolist()
    assert pcm(loud)[0] > 30000 and pcm(loud)[1] < -30000


def test_resampling_is_the_same_across_its_blocks_from_the_first_sample() -> None:
    source = tone(700, 8000, 1.25)  # 20,000 outputs at 16 kHz: five blocks of 4,096
    out = ts.resample(source, 8000, 16000)
    half = ts.HALF_TAPS
    for n in (0, 1, 4095, 4096, 8192, len(out) - 1):  # each output, straight from the formula
        position = n / 2
        k = np.arange(int(np.floor(position)) - half + 1, int(np.floor(position)) + half + 1)
        d = position - k
        kaiser = np.i0(ts.KAISER_BETA * np.sqrt(1 - (d / half) ** 2)) / np.i0(ts.KAISER_BETA)
        inside = (k >= 0) & (k < len(source))
        expected = np.sum(
            0.9
            * np.sinc(0.9 * d)
            * kaiser
            * np.where(inside, source[np.clip(k, 0, len(source) - 1)], 0)
        )
        assert out[n] == pytest.approx(expected, abs=1e-6)


def oracle_built_in() -> np.ndarray:
    """The built-in sound as its docstring describes it, written out note by note."""
    t = np.arange(int(3.2 * TWILIO_RATE)) / TWILIO_RATE
    total = np.zeros_like(t)
    for index, hz in enumerate(ts.NOTES_HZ):
        age = np.maximum(t - 0.8 * index, 0)
        shape = (1 - np.exp(-age / 0.005)) * np.exp(-age / 0.15) * (t >= 0.8 * index)
        total += shape * (np.sin(2 * np.pi * hz * age) + 0.25 * np.sin(2 * np.pi * 2 * hz * age))
    scaled: np.ndarray = total / np.max(np.abs(total)) * 32767 * 10 ** (-26 / 20)
    return scaled


def test_the_built_in_sound_is_the_one_described() -> None:
    expected = oracle_built_in()
    got = pcm(ts.built_in())
    step = 8.0 + np.abs(expected) / 12  # µ-law's own step at each level, and a little
    assert np.all(np.abs(got - expected) <= step)
    assert np.corrcoef(got, expected)[0, 1] > 0.999


def test_raising_the_rate_filters_the_images_out() -> None:
    source = tone(1500, 4000)  # at 4 kHz; at 8 kHz its image would be at 2.5 kHz
    out = ts.resample(source, 4000, 8000)
    assert len(out) == 8000
    spectrum = np.abs(np.fft.rfft(out[400:-400] * np.hanning(len(out) - 800)))
    freqs = np.fft.rfftfreq(len(out) - 800, 1 / 8000)
    image = spectrum[(freqs > 2300) & (freqs < 2700)].max()
    assert 20 * np.log10(image / spectrum.max()) < -60


@pytest.mark.parametrize(("rate", "to_rate"), [(44100, 8000), (8000, 16000), (11025, 8000)])
def test_a_steady_level_keeps_its_level_to_the_last_sample(rate: int, to_rate: int) -> None:
    source = np.full(rate // 10, 1000.0)
    out = ts.resample(source, rate, to_rate)
    assert len(out) == int(len(source) * to_rate / rate)
    edge = 40  # the filter's reach at either end, where the signal steps from silence
    assert np.max(np.abs(out[edge:-edge] - 1000.0)) < 1.0


def test_the_notes_rise_softly_and_carry_a_quiet_octave() -> None:
    samples = pcm(ts.built_in())
    note = samples[: int(0.8 * TWILIO_RATE)]
    attack = note[:16]  # the first 2 ms: still rising
    assert np.max(np.abs(attack)) < 0.4 * np.max(np.abs(note))
    spectrum = np.abs(np.fft.rfft(note * np.hanning(len(note))))
    freqs = np.fft.rfftfreq(len(note), 1 / TWILIO_RATE)
    base = spectrum[np.argmin(np.abs(freqs - ts.NOTES_HZ[0]))]
    octave = spectrum[np.argmin(np.abs(freqs - 2 * ts.NOTES_HZ[0]))]
    assert octave / base == pytest.approx(ts.OCTAVE_LEVEL, rel=0.15)
    assert np.max(np.abs(spectrum[freqs > 2.5 * ts.NOTES_HZ[0]])) < 0.05 * base
