"""`python -m app replay`: a captured stream through the server, the reply to a WAV."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np

from app.replay import replay
from app.twilio_emulator import load_capture
from tests.conftest import FIXTURES
from tests.support.gemini_standin import GeminiStandIn
from tests.support.server import free_port, serve_app, settings_for, standin_env
from tests.test_call_e2e import REPLY, answer_question


def agent_channel(path: Path) -> np.ndarray:
    with wave.open(str(path)) as wav:
        frames = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
    return frames[1::2]


async def test_replay_against_a_running_server(standin: GeminiStandIn, tmp_path: Path) -> None:
    standin.scenario = answer_question
    settings = settings_for(standin)
    async with serve_app(settings) as server:
        result = await replay(
            settings,
            load_capture(FIXTURES / "caller_question.json"),
            tmp_path / "reply.wav",
            server.base,
            tail_s=4.0,
        )
    assert abs(result.heard_s - len(REPLY) / 48000) < 0.1
    assert not result.ended_by_server and result.close_code == 1000
    agent = agent_channel(tmp_path / "reply.wav")
    assert np.count_nonzero(np.abs(agent) > 300) > 8000  # over a second of audible reply


async def test_replay_command_starts_its_own_server(standin: GeminiStandIn, tmp_path: Path) -> None:
    standin.scenario = answer_question
    env = standin_env(standin, free_port(), CALL_RECORDS_PATH="")
    out = tmp_path / "reply.wav"
    result = await asyncio.to_thread(
        subprocess.run,
        [
            sys.executable,
            "-m",
            "app",
            "replay",
            str(FIXTURES / "caller_question.json"),
            "--out",
            str(out),
            "--listen",
            "4",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "the caller heard 3.0 s of agent audio" in result.stdout
    assert out.exists() and len(agent_channel(out)) > 8000 * 6
