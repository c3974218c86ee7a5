"""`python -m app replay`: a captured stream through the server, the reply to a WAV."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np

from app.ops.replay import replay
from app.sinks.records import CallRecords
from app.telephony.captures import load_capture
from tests.conftest import FIXTURES
from tests.support.calls import REPLY, answer_question
from tests.support.gemini_standin import GeminiStandIn, StandInConnection
from tests.support.server import free_port, serve_app, settings_for, standin_env


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
    lines = result.stdout.splitlines()
    call_sid = lines[0].removeprefix("replayed as call ").split(" ")[0]
    assert lines[0] == (
        f"replayed as call {call_sid} (each replay gets a CallSid of its own; the capture's is"
        f" {load_capture(FIXTURES / 'caller_question.json')[1]['start']['callSid']}):"
        f" python -m app calls {call_sid}"
    )
    assert lines[1] == f"wrote {out}: the caller heard 3.0 s of agent audio"
    assert lines[-1] == "the call ended completed: caller hung up"
    assert out.exists() and len(agent_channel(out)) > 8000 * 6


async def refuse_after_hello(conn: StandInConnection) -> None:
    await conn.wait_audio_ms(200)
    await conn.close(1008, "Request contains an invalid argument.")


async def test_a_replay_whose_call_failed_exits_non_zero(
    standin: GeminiStandIn, tmp_path: Path
) -> None:
    standin.scenario = refuse_after_hello
    records = tmp_path / "calls.sqlite3"
    env = standin_env(standin, free_port(), CALL_RECORDS_PATH=str(records))
    capture = str(FIXTURES / "caller_question.json")
    async with serve_app(settings_for(standin, call_records_path=str(records))) as server:
        runs = [
            await asyncio.to_thread(
                replay_command, tmp_path, env, capture, "--out", "r.wav", "--server", server.base
            )
            for _ in range(2)
        ]
    for ran in runs:
        assert ran.returncode == 1, ran
        assert ran.stdout.splitlines()[-1].startswith("the call ended agent_failed: ")
    # Two replays of one capture: two calls, each with its own CallSid and record.
    sids = [ran.stdout.split()[3] for ran in runs]
    assert len(set(sids)) == 2
    stored = CallRecords(records)
    assert [stored.legs(sid) for sid in sids] == [1, 1]
    assert {r["call_sid"] for r in stored.recent()} == set(sids)
    stored.close()


async def goodbye_then_end_call(conn: StandInConnection) -> None:
    await conn.wait_audio_ms(200)
    await conn.send_audio(REPLY)
    await conn.transcript("agent", "Goodbye, and thank you for calling.")
    await conn.tool_call("bye", "end_call", {"reason": "done"})
    await conn.wait_tool_response("bye")
    await conn.turn_complete()


async def test_replay_keeps_what_was_heard_when_the_server_ends_the_call(
    standin: GeminiStandIn, tmp_path: Path
) -> None:
    standin.scenario = goodbye_then_end_call
    records = tmp_path / "calls.sqlite3"
    settings = settings_for(standin, call_records_path=str(records))
    async with serve_app(settings) as server:
        result = await replay(
            settings,
            load_capture(FIXTURES / "caller_question.json"),
            tmp_path / "r.wav",
            server.base,
        )
    # The server hung up once the goodbye had played: the caller heard all of it.
    assert result.ended_by_server and result.close_code == 1000
    assert abs(result.heard_s - len(REPLY) / 48000) < 0.1
    assert result.recorded_s >= len(REPLY) / 48000
    agent = agent_channel(tmp_path / "r.wav")
    assert np.count_nonzero(np.abs(agent) > 300) > 8000
    # The marks went back, so the call record knows what was heard.
    record = CallRecords(records).get(
        load_capture(FIXTURES / "caller_question.json")[1]["start"]["callSid"]
    )
    assert record is not None
    (agent_turn,) = [turn for turn in record["turns"] if turn["speaker"] == "agent"]
    assert abs(agent_turn["heard_ms"] - 1000 * len(REPLY) / 48000) < 100


def replay_command(
    tmp_path: Path, env: dict[str, str], *args: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app", "replay", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_replay_mistakes_are_answered_in_one_sentence(
    standin: GeminiStandIn, tmp_path: Path
) -> None:
    capture = str(FIXTURES / "caller_question.json")
    (tmp_path / "notjson.json").write_text("{nope")
    (tmp_path / "nostart.json").write_text('[{"event": "connected"}]')
    (tmp_path / "a-file").write_text("x")
    env = standin_env(standin, free_port(), CALL_RECORDS_PATH="")
    nobody = f"http://127.0.0.1:{free_port()}"
    async with serve_app(settings_for(standin)) as server:
        wrong_token = {**env, "TWILIO_AUTH_TOKEN": "not-the-servers-token"}
        cases = [
            (env, ["missing.json", "--out", "o.wav"], "cannot read the capture missing.json"),
            (env, ["notjson.json", "--out", "o.wav"], "is not JSON"),
            (env, ["nostart.json", "--out", "o.wav"], "has no `start` frame"),
            (env, [capture, "--out", "o.wav", "--server", nobody], "cannot reach the server"),
            (env, [capture, "--out", "a-file/o.wav", "--server", server.base], "cannot write"),
            (env, [capture, "--out", "o.wav", "--server", "localhost"], "must be a URL"),
            (wrong_token, [capture, "--out", "o.wav", "--server", server.base], "HTTP 403"),
        ]
        for case_env, args, phrase in cases:
            ran = await asyncio.to_thread(replay_command, tmp_path, case_env, *args)
            assert ran.returncode == 1, (args, ran.stdout, ran.stderr)
            lines = ran.stderr.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("replay failed: "), ran.stderr
            assert phrase in lines[0], (phrase, lines[0])
