"""Startup refuses settings that cannot work, with one sentence, the same way in
``python -m app check`` and ``python -m app`` (real processes, real files)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.process import Ran, run_app
from tests.support.server import AUTH_TOKEN, PUBLIC_URL, free_port, process_env


def base_env(tmp: Path, **values: str) -> dict[str, str]:
    """Production-shaped, echo agent (no Gemini needed), everything in ``tmp``."""
    return process_env(
        AGENT="echo",
        HOST="127.0.0.1",
        PORT=str(free_port()),
        TWILIO_AUTH_TOKEN=AUTH_TOKEN,
        PUBLIC_URL=PUBLIC_URL,
        CALL_RECORDS_PATH=str(tmp / "calls.sqlite3"),
        HOME=str(tmp),
        NO_GCE_CHECK="true",
        **values,
    )


def not_a_directory(tmp: Path) -> dict[str, str]:
    (tmp / "a-file").write_text("x")
    return {"RECORDINGS_DIR": str(tmp / "a-file" / "recordings")}


def not_utf8(tmp: Path) -> dict[str, str]:
    (tmp / "prompt.txt").write_bytes("Vous êtes l'assistant.".encode("latin-1"))
    return {"SYSTEM_INSTRUCTION_FILE": str(tmp / "prompt.txt")}


def not_a_database(tmp: Path) -> dict[str, str]:
    (tmp / "records.db").write_bytes(b"this is not SQLite, it is a text file" * 100)
    return {"CALL_RECORDS_PATH": str(tmp / "records.db")}


def broken_tool_module(tmp: Path) -> dict[str, str]:
    (tmp / "tools_pkg").mkdir()
    (tmp / "tools_pkg" / "broken_tools.py").write_text("async def lookup(:\n    pass\n")
    env = process_env()
    return {
        "TOOL_MODULES": "broken_tools",
        "PYTHONPATH": f"{tmp / 'tools_pkg'}:{env['PYTHONPATH']}",
    }


def not_pem(tmp: Path) -> dict[str, str]:
    (tmp / "ca.pem").write_text("not a certificate")
    return {"SSL_CERT_FILE": str(tmp / "ca.pem")}


def vertex_without_credentials(tmp: Path) -> dict[str, str]:
    return {
        "AGENT": "gemini",
        "GOOGLE_GENAI_USE_VERTEXAI": "true",
        "GOOGLE_CLOUD_PROJECT": "my-project",
    }


def not_a_wav(tmp: Path) -> dict[str, str]:
    (tmp / "thinking.wav").write_bytes(b"ID3 an mp3, renamed" * 50)
    return {"THINKING_AUDIO_FILE": str(tmp / "thinking.wav")}


def constant(**values: str) -> Callable[[Path], dict[str, str]]:
    return lambda tmp: values


def _dotenv(tmp: Path, text: str) -> dict[str, str]:
    (tmp / ".env").write_text(text)
    return {}


CASES: dict[str, tuple[Callable[[Path], dict[str, str]], str]] = {
    "recordings dir not writable": (not_a_directory, "RECORDINGS_DIR="),
    "instructions not UTF-8": (not_utf8, "SYSTEM_INSTRUCTION_FILE="),
    "records not a database": (not_a_database, "CALL_RECORDS_PATH="),
    "records in a missing directory": (
        constant(CALL_RECORDS_PATH="/nonexistent/dir/calls.sqlite3"),
        "CALL_RECORDS_PATH=",
    ),
    "public url over http": (constant(PUBLIC_URL="http://bot.example.com"), "https://"),
    "public url is the webhook": (
        constant(PUBLIC_URL="https://bot.example.com/incoming-call"),
        "ends in /incoming-call",
    ),
    "vertex without credentials": (vertex_without_credentials, "Vertex AI needs credentials"),
    "tool module with a syntax error": (broken_tool_module, "SyntaxError"),
    "bad host": (constant(HOST="bad host"), "HOST="),
    "host not on this machine": (
        constant(HOST="192.0.2.1"),  # TEST-NET-1: never an address of this machine
        "cannot listen on HOST=192.0.2.1 PORT=",
    ),
    "host name that does not resolve": (
        constant(HOST="no-such-host.invalid"),
        "HOST is a name this machine cannot resolve",
    ),
    "misspelled setting in .env": (
        lambda tmp: _dotenv(tmp, "MAX_CONCURENT_CALLS=5\n"),
        "MAX_CONCURENT_CALLS in {tmp}/.env is not a setting: did you mean MAX_CONCURRENT_CALLS?",
    ),
    "boolean that is not one": (
        constant(ENABLE_SOFTPHONE="enabled"),
        "ENABLE_SOFTPHONE='enabled' is not true or false: use true or false",
    ),
    "tool module given as a file": (
        constant(TOOL_MODULES="/srv/bot/mytools.py"),
        "so use mytools and put /srv/bot on PYTHONPATH",
    ),
    "developer api given vertex's model name": (
        constant(
            AGENT="gemini", GEMINI_API_KEY="k", GEMINI_MODEL="gemini-live-2.5-flash-native-audio"
        ),
        "is Vertex AI's name; on the Developer API the model is called",
    ),
    "transfer name twice": (
        constant(TRANSFER_TARGETS="sales=+15551230001,sales=+15551230002"),
        "TRANSFER_TARGETS names 'sales' twice",
    ),
    "account without auth token": (
        constant(TWILIO_ACCOUNT_SID="AC" + "1" * 32, TWILIO_AUTH_TOKEN="", PUBLIC_URL=""),
        "TWILIO_ACCOUNT_SID is set without TWILIO_AUTH_TOKEN",
    ),
    "ca file not pem": (not_pem, "SSL_CERT_FILE="),
    "thinking sound not a wav": (not_a_wav, "is not a PCM WAV file"),
    "thinking sound missing": (
        constant(THINKING_AUDIO_FILE="/nonexistent/thinking.wav"),
        "THINKING_AUDIO_FILE=/nonexistent/thinking.wav cannot be read",
    ),
    "relative path named absolutely": (
        constant(SYSTEM_INSTRUCTION_FILE="prompts/bot.txt"),
        "SYSTEM_INSTRUCTION_FILE=prompts/bot.txt (that is, {tmp}/prompts/bot.txt) cannot be read",
    ),
}


def assert_one_sentence(ran: Ran, phrase: str) -> None:
    assert ran.code != 0, ran
    lines = ran.stderr.strip().splitlines()
    assert len(lines) == 1, ran.stderr  # one line: no traceback, no log noise
    assert lines[0].startswith("configuration error: ") and phrase in lines[0], lines[0]
    assert AUTH_TOKEN not in ran.stderr


@pytest.mark.parametrize("case", list(CASES))
async def test_check_and_serve_refuse_the_same_settings_in_one_sentence(
    tmp_path: Path, case: str
) -> None:
    make, phrase = CASES[case]
    phrase = phrase.format(tmp=tmp_path)
    env = base_env(tmp_path)
    env.update(make(tmp_path))
    env = {k: v for k, v in env.items() if v != ""}
    checked, served = await asyncio.gather(
        run_app(tmp_path, env, "check"), run_app(tmp_path, env, timeout=30)
    )
    assert_one_sentence(checked, phrase)
    assert_one_sentence(served, phrase)
    assert checked.stderr == served.stderr  # exactly the same validation


async def test_check_passes_what_serve_accepts(tmp_path: Path) -> None:
    env = base_env(
        tmp_path,
        RECORDINGS_DIR=str(tmp_path / "recordings"),
        TRANSFER_TARGETS="sales=+15551230001",
        TOOL_MODULES="app.tools.examples",
    )
    ran = await run_app(tmp_path, env, "check")
    assert ran.code == 0, ran
    assert ran.stdout.startswith("settings are valid")
    assert "opening_hours" in ran.stdout and "recordings" in ran.stdout


async def test_a_port_in_use_is_refused_by_check_as_by_serving(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {**base_env(tmp_path), "PORT": str(port)}
        checked, served = await asyncio.gather(
            run_app(tmp_path, env, "check"), run_app(tmp_path, env, timeout=30)
        )
    for ran in (checked, served):
        assert_one_sentence(
            ran,
            f"cannot listen on HOST=127.0.0.1 PORT={port} (Address already in use): another"
            " process listens there (this server already running?): stop it, or choose a free"
            " PORT.",
        )


async def test_check_says_where_it_read_the_settings_and_what_it_warns_about(
    tmp_path: Path,
) -> None:
    env_file = tmp_path / "bot.env"
    env_file.write_text("GEMINI_VOICE=kore\nCALL_RECORDS_PATH=records.sqlite3\n")
    env = {**base_env(tmp_path), "AGENT": "gemini", "GEMINI_API_KEY": "k"}
    env["ENABLE_SOFTFONE"] = "true"
    del env["CALL_RECORDS_PATH"]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    ran = await run_app(elsewhere, env, "check", "--env-file", str(env_file))
    assert ran.code == 0, ran
    assert ran.stderr == (
        "warning: the environment variable ENABLE_SOFTFONE is not a setting, so it is ignored:"
        " did you mean ENABLE_SOFTPHONE?\n"
    )
    assert f"  read from          the environment and {env_file}\n" in ran.stdout
    assert "  voice / language   Kore / (not set)\n" in ran.stdout  # as Google spells it
    assert f"  call records       {elsewhere / 'records.sqlite3'}\n" in ran.stdout
    missing = await run_app(elsewhere, env, "--env-file", str(tmp_path / "no.env"), "check")
    assert_one_sentence(missing, f"--env-file {tmp_path / 'no.env'}: no such file")
