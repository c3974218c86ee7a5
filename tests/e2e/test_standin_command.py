"""`python -m app gemini-standin` and `python -m app make-capture`, as a newcomer runs
them: the stand-in in its own process, a WAV recording turned into a capture, and the
capture replayed through a server talking to the stand-in with the real SDK."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np

from app.telephony.captures import load_capture
from tests.support.process import run_app
from tests.support.server import free_port, process_env
from tests.support.signals import tone, tone_amplitude

RATE = 44100


def write_wav(path: Path, samples: np.ndarray, *, rate: int = RATE, width: int = 2) -> None:
    """Stereo, at ``width`` bytes a sample (24-bit when 3)."""
    ints = np.rint(samples).astype("<i4")
    if width == 2:
        frames = ints.astype("<i2").tobytes()
    else:
        shifted = (ints << 8).astype("<i4").view(np.uint8).reshape(-1, 4)[:, :3]  # low 3 bytes
        frames = shifted.tobytes()
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(2)
        wav.setsampwidth(width)
        wav.setframerate(rate)
        stereo = np.frombuffer(frames, dtype=np.uint8).reshape(-1, width)
        wav.writeframes(np.repeat(stereo, 2, axis=0).tobytes())


async def start_standin(tmp: Path, *args: str) -> tuple[subprocess.Popen[str], dict[str, str]]:
    tmp.mkdir()
    process = subprocess.Popen(
        [sys.executable, "-m", "app", "gemini-standin", "--port", "0", "--dir", str(tmp), *args],
        cwd=tmp,
        env=process_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    lines = [await asyncio.to_thread(process.stdout.readline) for _ in range(5)]
    if not lines[0]:
        assert process.stderr is not None
        raise AssertionError(process.stderr.read())
    assert lines[0].startswith("Gemini Live stand-in listening on https://127.0.0.1:"), lines
    settings = dict(line.strip().split("=", 1) for line in lines[2:])
    assert set(settings) == {"GEMINI_BASE_URL", "SSL_CERT_FILE", "GEMINI_API_KEY"}
    return process, settings


async def test_a_wav_recording_replayed_to_the_server_on_the_standin(tmp_path: Path) -> None:
    speech = np.concatenate([tone(300, RATE, 1.5, dbfs=-12), np.zeros(RATE)])  # then a pause
    write_wav(tmp_path / "me.wav", speech, width=3)
    write_wav(tmp_path / "hello.wav", tone(500, 16000, 1.0, dbfs=-12), rate=16000)
    made = await run_app(tmp_path, process_env(), "make-capture", "me.wav", "--out", "me.json")
    assert made.code == 0, made
    assert made.stdout == (
        "wrote me.json: 2.5 s of caller audio as Twilio streams it (8 kHz µ-law, 20 ms frames);"
        " play it to the bot with: python -m app replay me.json --out reply.wav\n"
    )
    frames = load_capture(tmp_path / "me.json")
    assert [f["event"] for f in frames[:3]] == ["connected", "start", "media"]

    standin, settings = await start_standin(
        tmp_path / "standin", "--reply", str(tmp_path / "hello.wav")
    )
    try:
        env = process_env(
            **settings, ALLOW_UNSIGNED_REQUESTS="true", PORT=str(free_port()), HOME=str(tmp_path)
        )
        ran = await run_app(
            tmp_path, env, "replay", "me.json", "--out", "reply.wav", "--listen", "3", timeout=120
        )
    finally:
        standin.terminate()
        await asyncio.to_thread(standin.wait, 10)
    assert ran.code == 0, ran
    out = ran.stdout.splitlines()
    assert out[0].startswith("replayed as call CA") and "the capture's is CAf1f1f1" in out[0]
    assert out[-1] == "the call ended completed: caller hung up"
    heard = float(out[1].split("heard ")[1].split(" s")[0])
    assert heard >= 1.0 + 1.5  # the --reply greeting, then the caller's words repeated
    with wave.open(str(tmp_path / "reply.wav")) as wav:
        agent = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")[1::2]
    # The greeting is the 500 Hz reply, the echo the caller's 300 Hz, at the phone's 8 kHz.
    loud = np.flatnonzero(np.abs(agent) > 1000)
    greeting = agent[loud[0] : loud[0] + 8000].astype(float)
    echo = agent[loud[0] + 8000 :].astype(float)
    assert tone_amplitude(greeting, 8000, 500) > 5 * tone_amplitude(greeting, 8000, 300)
    assert tone_amplitude(echo, 8000, 300) > 5 * tone_amplitude(echo, 8000, 500)


async def test_make_capture_mistakes_are_one_sentence(tmp_path: Path) -> None:
    (tmp_path / "notes.wav").write_text("not a recording")
    cases = [
        (
            ["missing.wav"],
            "make-capture failed: cannot read missing.wav (No such file or directory)",
        ),
        (
            ["notes.wav"],
            "make-capture failed: notes.wav is not a PCM WAV file (file does not start with RIFF"
            " id): convert it first, e.g. with `sox in.mp3 -b 16 out.wav` or `ffmpeg -i in.m4a"
            " out.wav`",
        ),
    ]
    for args, sentence in cases:
        ran = await run_app(tmp_path, process_env(), "make-capture", *args, "--out", "c.json")
        assert (ran.code, ran.stderr) == (1, sentence + "\n")
    assert not (tmp_path / "c.json").exists()


async def test_the_standin_says_when_its_port_is_taken(tmp_path: Path) -> None:
    standin, settings = await start_standin(tmp_path / "a")
    port = settings["GEMINI_BASE_URL"].rsplit(":", 1)[1]
    try:
        ran = await run_app(tmp_path, process_env(), "gemini-standin", "--port", port)
    finally:
        standin.terminate()
        await asyncio.to_thread(standin.wait, 10)
    assert ran.code == 1
    assert ran.stderr == (
        f"gemini-standin failed: cannot listen on 127.0.0.1:{port} (Address already in use):"
        " choose another --port\n"
    )
