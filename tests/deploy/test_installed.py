"""The deployment tier: the artifact an operator runs is the artifact we test.

Each leg builds a fresh venv with one Python (3.11, 3.13) and installs the wheel
non-editable, from the hashed lock (``locked``) or with the newest releases
pyproject.toml allows (``newest``). Each entry point (``python -m app`` and
``uvicorn app.main:app``) then starts from an empty working directory, with no path
to this checkout, and a production-shaped environment: signatures on, Twilio's REST
API (its stand-in), an operator token, transfer targets, the example tools and an
operator's own tool module, call records, recordings, fast barge-in, the softphone,
JSON logs, an instructions file and a greeting, Gemini through its TLS stand-in.

On it: ``python -m app check``; a signed inbound call (greeting, the caller's
question, tools, a reply heard, the model's ``transfer_call`` through REST); an
outbound call placed through the operator API and steered with ``say`` and
``transfer``; a call ended with ``hangup``; every operator route; then SIGTERM
(``python -m app``: with a call in progress, drained politely). Afterwards: the call
records, the recordings, and every log line (JSON, no secret).

The versions each leg ran are written to ``test-artifacts/deploy/`` (and printed by
``.ci/run``).
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
import wave
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from app.telephony.captures import capture_ulaw
from app.telephony.emulator import TwilioEmulator
from app.telephony.media_stream import MediaStream
from tests.support.calls import QUESTION, REPLY
from tests.support.gemini_standin import GeminiStandIn, StandInConnection
from tests.support.installed import (
    ARTIFACTS,
    Dependencies,
    ServerProcess,
    Venv,
    find_python,
    install,
    require_python,
)
from tests.support.live_call import PhoneLine, Question, helpful_model, opening
from tests.support.server import ROOT, free_port, serve_asgi
from tests.support.twilio_rest_standin import ACCOUNT_SID, TwilioRestStandIn

QUESTION_ULAW = capture_ulaw(QUESTION)  # tests/fixtures/caller_question.json
ANSWER = REPLY[:48000]  # one second of speech for each instruction
ANSWER_ULAW = len(ANSWER) // 6  # what Twilio plays of it: 8 kHz µ-law
REPLY_ULAW = len(REPLY) // 6

PUBLIC_URL = "https://voice.example.org"
FROM_NUMBER = "+15550100002"
CALLEE = "+15557654321"
TARGETS = {"sales": "+15551230001", "support": "+15551230002"}
GREETING = "Begrüße den Anrufer kurz und frage, wie du helfen kannst."
INSTRUCTIONS = "Du bist die Telefonassistentin von Müller & Söhne – freundlich, knapp."
SAY = "Tell the caller their order A1001 shipped on Monday."
DRAIN_S = 20
OPERATOR_TOOLS = '''"""An operator's own tools, kept outside the installed package."""


async def account_balance(account_id: str) -> dict[str, str]:
    """Look up the balance of a customer's account.

    Args:
        account_id: The account number the caller reads out.
    """
    return {"account_id": account_id, "balance": "12.50", "currency": "EUR"}
'''
ENTRY_POINTS = {
    "python -m app": ["python", "-m", "app"],
    "uvicorn app.main:app": ["uvicorn", "app.main:app", "--host", "127.0.0.1", "--port", "{port}"],
}
# The locked legs gate every change. The newest legs depend on the day they run (what
# the index has published since): they are the `upstream` tier, left out of
# `pytest -q` and run by .ci/run on its own, where a failure is reported loudly,
# naming what broke, without deciding whether work lands.
LEGS = [
    pytest.param("3.11", "locked", id="py3.11-locked"),
    pytest.param("3.11", "newest", id="py3.11-newest", marks=pytest.mark.upstream),
    pytest.param("3.13", "locked", id="py3.13-locked"),
    pytest.param("3.13", "newest", id="py3.13-newest", marks=pytest.mark.upstream),
]


def sid(prefix: str) -> str:
    """A SID as Twilio makes them: two letters and 32 hex digits."""
    return prefix + secrets.token_hex(16)


@dataclass
class Deployment:
    """One entry point of one venv, serving with every feature configured."""

    venv: Venv
    entry: str
    where: Path
    gemini: GeminiStandIn
    rest: TwilioRestStandIn
    rest_base: str
    api_key: str
    operator_token: str
    port: int = field(default_factory=free_port)
    stream_tokens: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.workdir = self.where / "cwd"  # stays empty: everything has its configured place
        self.data = self.where / "data"
        self.tools_dir = self.where / "operator-tools"
        for directory in (self.workdir, self.data, self.tools_dir, self.where / "home"):
            directory.mkdir(parents=True)
        (self.tools_dir / "acme_phone_tools.py").write_text(OPERATOR_TOOLS, encoding="utf-8")
        self.instructions = self.where / "instructions.txt"
        self.instructions.write_text(INSTRUCTIONS + "\n", encoding="utf-8")
        self.base = f"http://127.0.0.1:{self.port}"
        self.auth = {"Authorization": f"Bearer {self.operator_token}"}
        self.twilio = TwilioEmulator(self.base, PUBLIC_URL, self.rest.auth_token)

    @property
    def records_path(self) -> Path:
        return self.data / "calls.sqlite3"

    @property
    def recordings(self) -> Path:
        return self.data / "recordings"

    @property
    def secrets(self) -> dict[str, str]:
        """Each secret by what it is (for messages that must not repeat it)."""
        named = {
            "GEMINI_API_KEY": self.api_key,
            "TWILIO_AUTH_TOKEN": self.rest.auth_token,
            "OPERATOR_TOKEN": self.operator_token,
        }
        named.update({f"stream token {i}": t for i, t in enumerate(self.stream_tokens, 1)})
        return named

    def env(self) -> dict[str, str]:
        """What an operator's unit file or container would set; nothing of this checkout."""
        return {
            "PATH": f"{self.venv.bin}:/usr/local/bin:/usr/bin:/bin",
            "HOME": str(self.where / "home"),
            "LANG": "C.UTF-8",
            "PYTHONPATH": str(self.tools_dir),  # the operator's own tool module only
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            "GEMINI_API_KEY": self.api_key,
            "GEMINI_BASE_URL": self.gemini.base_url,
            "SSL_CERT_FILE": str(self.gemini.ca_file),
            "TWILIO_AUTH_TOKEN": self.rest.auth_token,
            "PUBLIC_URL": PUBLIC_URL,
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_FROM_NUMBER": FROM_NUMBER,
            "TWILIO_API_BASE_URL": self.rest_base,
            "OPERATOR_TOKEN": self.operator_token,
            "TRANSFER_TARGETS": ",".join(f"{k}={v}" for k, v in TARGETS.items()),
            "TOOL_MODULES": "app.tools.examples, acme_phone_tools",
            "CALL_RECORDS_PATH": str(self.records_path),
            "RECORDINGS_DIR": str(self.recordings),
            "FAST_BARGE_IN": "true",
            "ENABLE_SOFTPHONE": "true",
            "LOG_FORMAT": "json",
            "SYSTEM_INSTRUCTION_FILE": str(self.instructions),
            "GREETING": GREETING,
            "SHUTDOWN_DRAIN_SECONDS": str(DRAIN_S),
        }

    def command(self) -> list[str]:
        name, *args = ENTRY_POINTS[self.entry]
        return [str(self.venv.bin / name), *(a.format(port=self.port) for a in args)]

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        """An operator command of the installed package, from the same place."""
        return subprocess.run(
            [str(self.venv.python), "-m", "app", *args],
            cwd=self.workdir,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def connection(self, index: int) -> StandInConnection:
        return self.gemini.connections[index]

    async def answered_call(
        self, call_sid: str, **webhook: str
    ) -> tuple[MediaStream, PhoneLine, StandInConnection]:
        """Twilio fetching the voice webhook, then streaming the call, quiet line and all."""
        instruction = await self.twilio.incoming_call(call_sid, account_sid=ACCOUNT_SID, **webhook)
        assert instruction.url == "wss://voice.example.org/media-stream"
        assert instruction.parameters["callSid"] == call_sid
        self.stream_tokens.append(instruction.parameters["streamToken"])
        index = len(self.gemini.connections)
        stream = await self.twilio.open_stream(instruction)
        await stream.replay(opening(call_sid, sid("MZ"), ACCOUNT_SID))
        line = PhoneLine(stream)
        async with asyncio.timeout(20):
            while len(self.gemini.connections) <= index:
                await asyncio.sleep(0.02)
        return stream, line, self.connection(index)


def heard_all(stream: MediaStream, at_least: int) -> None:
    """Every byte the server sent was played, it was at least ``at_least`` bytes, and
    every mark came back (what tells the server what the caller heard)."""
    assert len(stream.heard) == len(stream.media_received) >= at_least
    assert stream.marks_sent > 0 and len(stream.marks_echoed) == stream.marks_sent
    assert not stream.problems, stream.problems


def dialled(twiml: str) -> str | None:
    dial = ET.fromstring(twiml).find("Dial")
    return None if dial is None else (dial.text or "").strip()


@asynccontextmanager
async def deployment(venv: Venv, entry: str, where: Path) -> AsyncIterator[Deployment]:
    question = Question(
        speech_ms=1500,
        caller_text="Hallo, wann haben Sie am Samstag geöffnet?",
        tool_calls={
            "hours": ("opening_hours", {"day": "saturday"}),
            "balance": ("account_balance", {"account_id": "K-77"}),
        },
        reply=REPLY,
        reply_text="Samstags von zehn bis sechzehn Uhr.",
        transfer_to="sales",
    )
    model = helpful_model(ANSWER, "Gern, einen Moment.", question)
    api_key = "AIza" + secrets.token_urlsafe(26)
    rest = TwilioRestStandIn(secrets.token_hex(16))  # an auth token as Twilio issues them
    await asyncio.to_thread(where.mkdir)
    async with GeminiStandIn(where, model, api_key=api_key) as gemini:
        async with serve_asgi(rest.app()) as rest_server:
            yield Deployment(
                venv,
                entry,
                where,
                gemini,
                rest,
                rest_server.base,
                api_key,
                operator_token=secrets.token_urlsafe(32),  # 43 characters
            )
        assert not gemini.errors, gemini.errors
        assert not gemini.rejected, gemini.rejected


async def check_settings(dep: Deployment) -> None:
    checked = await asyncio.to_thread(dep.run, "check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    out = checked.stdout
    assert out.startswith("settings are valid"), out
    assert "opening_hours, order_status, current_time, account_balance" in out
    assert "end_call, transfer_call" in out
    assert "transfer targets   sales, support" in out
    assert f"softphone          {PUBLIC_URL}/softphone (OPERATOR_TOKEN)" in out
    assert f"call records       {dep.records_path}" in out
    assert f"recordings         {dep.recordings}" in out
    assert f"endpoint           {dep.gemini.base_url}" in out
    for name, secret in dep.secrets.items():
        assert secret not in out + checked.stderr, f"check prints {name}"


async def inbound_call_with_transfer(dep: Deployment, http: httpx.AsyncClient) -> str:
    """Greeting, the caller's question, two tools, the reply, then transfer_call."""
    call_sid = sid("CA")
    stream, line, conn = await dep.answered_call(call_sid)
    await stream.wait_for(lambda: len(stream.heard) >= ANSWER_ULAW, timeout=20)  # greeting
    assert conn.texts[0] == GREETING
    line.say(QUESTION_ULAW)
    await stream.wait_closed(timeout=40)  # transferred: the server hung up its stream
    await line.close()
    heard_all(stream, 2 * ANSWER_ULAW + REPLY_ULAW)  # greeting, reply, "connecting you"

    instruction = conn.setup.get("systemInstruction") or conn.setup["system_instruction"]
    assert INSTRUCTIONS in json.dumps(instruction, ensure_ascii=False)
    declared = {d["name"]: d for d in conn.setup["tools"][0]["functionDeclarations"]}
    assert {"opening_hours", "account_balance", "transfer_call", "end_call"} <= set(declared)
    assert conn.tool_responses["hours"]["response"]["result"]["opens"] == "10:00"
    assert conn.tool_responses["balance"]["response"] == {
        "result": {"account_id": "K-77", "balance": "12.50", "currency": "EUR"}
    }
    update = dep.rest.last(f"/Calls/{call_sid}.json")
    assert dialled(update.form["Twiml"]) == TARGETS["sales"]
    ended = await dep.twilio.post("/call-ended", {"CallSid": call_sid, "AccountSid": ACCOUNT_SID})
    # Twilio's REST API connected it: the <Connect action> has nothing left to dial.
    assert dialled(ended.text) is None and "<Hangup/>" in ended.text
    return call_sid


async def outbound_call_steered(dep: Deployment, http: httpx.AsyncClient) -> str:
    """POST /calls places it; the callee answers; say, then transfer to support."""
    placed = await http.post(dep.base + "/calls", json={"to": CALLEE}, headers=dep.auth)
    assert placed.status_code == 201, placed.text
    call_sid = str(placed.json()["sid"])
    assert re.fullmatch(r"CA[0-9a-f]{32}", call_sid)
    create = dep.rest.last("/Calls.json")
    assert create.form["To"] == CALLEE and create.form["From"] == FROM_NUMBER
    assert create.form["Url"] == PUBLIC_URL + "/incoming-call"
    stream, line, conn = await dep.answered_call(
        call_sid, caller=FROM_NUMBER, called=CALLEE, direction="outbound-api"
    )
    assert stream.parameters is not None and stream.parameters["direction"] == "outbound"
    await stream.wait_for(lambda: len(stream.heard) >= ANSWER_ULAW, timeout=20)
    said = await http.post(
        dep.base + f"/calls/{call_sid}/say", json={"text": SAY}, headers=dep.auth
    )
    assert said.status_code == 202, said.text
    await stream.wait_for(lambda: len(stream.heard) >= 2 * ANSWER_ULAW, timeout=20)
    moved = await http.post(
        dep.base + f"/calls/{call_sid}/transfer", json={"target": "support"}, headers=dep.auth
    )
    assert moved.status_code == 202, moved.text
    await stream.wait_closed(timeout=20)
    await line.close()
    heard_all(stream, 3 * ANSWER_ULAW)
    assert conn.texts[1] == SAY and "connecting them to support" in conn.texts[2]
    assert dialled(dep.rest.last(f"/Calls/{call_sid}.json").form["Twiml"]) == TARGETS["support"]
    return call_sid


async def call_hung_up_by_operator(dep: Deployment, http: httpx.AsyncClient) -> str:
    call_sid = sid("CA")
    stream, line, conn = await dep.answered_call(call_sid)
    await stream.wait_for(lambda: len(stream.heard) >= ANSWER_ULAW, timeout=20)
    hung = await http.post(dep.base + f"/calls/{call_sid}/hangup", headers=dep.auth)
    assert hung.status_code == 202, hung.text
    await stream.wait_closed(timeout=20)
    await line.close()
    heard_all(stream, 2 * ANSWER_ULAW)  # the greeting, then the goodbye, both in full
    assert "goodbye" in conn.texts[-1].lower()
    return call_sid


async def operator_routes(dep: Deployment, http: httpx.AsyncClient, calls: list[str]) -> None:
    health = await http.get(dep.base + "/healthz")
    assert health.status_code == 200, health.text
    assert health.json()["signature_validation"] is True
    assert health.json()["active_calls"] == 0

    assert (await http.get(dep.base + "/metrics")).status_code == 401
    metrics = await http.get(dep.base + "/metrics", headers=dep.auth)
    assert metrics.status_code == 200
    total = sum(
        float(value)
        for value in re.findall(r"^phonebot_calls_total\{[^}]*\} (\S+)$", metrics.text, re.M)
    )
    assert total == len(calls), metrics.text

    openapi = await http.get(dep.base + "/openapi.json", headers=dep.auth)
    assert openapi.status_code == 200
    paths = openapi.json()["paths"]
    for path in ("/calls", "/calls/{call_sid}", "/calls/{call_sid}/say", "/healthz"):
        assert any(p.endswith(path) for p in paths), (path, sorted(paths))

    listed = await http.get(dep.base + "/calls", headers=dep.auth)
    assert listed.status_code == 200
    assert set(calls) <= {c["call_sid"] for c in listed.json()["calls"]}
    record = await http.get(dep.base + f"/calls/{calls[0]}", headers=dep.auth)
    assert record.status_code == 200
    assert_record(record.json(), tools=3)

    login = await http.get(dep.base + "/softphone")  # no cookie: the sign-in page
    assert login.status_code == 401 and 'name="token"' in login.text
    # An old bookmark with the token in its address signs nobody in (and its log line,
    # like every other, must not show the token).
    old_link = await http.get(dep.base + "/softphone", params={"token": dep.operator_token})
    assert old_link.status_code == 401 and 'method="post"' in old_link.text
    signed_in = await http.post(dep.base + "/softphone", data={"token": dep.operator_token})
    assert signed_in.status_code == 303, signed_in.text  # the form; a cookie from now on
    page = await http.get(dep.base + "/softphone")
    assert page.status_code == 200 and "<script" in page.text


def assert_record(record: dict[str, Any], *, tools: int = 0) -> None:
    assert record["outcome"] == "completed", record
    assert record["ended_at"] is not None and record["duration_s"] > 0
    assert record["tool_calls"] >= tools
    agent = [t for t in record["turns"] if t["speaker"] == "agent"]
    assert agent and all(t["heard_ms"] > 0 for t in agent), record["turns"]


async def drained_on_sigterm(
    dep: Deployment, server: ServerProcess, http: httpx.AsyncClient
) -> tuple[str, int]:
    """SIGTERM with a call in progress: busy for new calls, 503 draining, the call says
    goodbye and ends once that was heard, and the process exits."""
    call_sid = sid("CA")
    stream, line, conn = await dep.answered_call(call_sid)
    await stream.wait_for(lambda: len(stream.heard) >= ANSWER_ULAW, timeout=20)
    signalled = time.monotonic()
    server.send(signal.SIGTERM)
    async with asyncio.timeout(10):
        while (health := await http.get(dep.base + "/healthz")).status_code != 503:
            await asyncio.sleep(0.05)
    assert health.json()["status"] == "draining"
    form = {"CallSid": sid("CA"), "From": CALLEE, "To": FROM_NUMBER, "AccountSid": ACCOUNT_SID}
    busy = await dep.twilio.post("/incoming-call", {**form, "Direction": "inbound"})
    assert busy.status_code == 200, busy.text
    assert [el.tag for el in ET.fromstring(busy.text)] == ["Say", "Hangup"]
    await stream.wait_closed(timeout=DRAIN_S)
    await line.close()
    heard_all(stream, 2 * ANSWER_ULAW)  # the goodbye was heard before the hang-up
    assert "goodbye" in conn.texts[-1].lower()
    code = await server.wait(DRAIN_S + 10 - (time.monotonic() - signalled))
    assert time.monotonic() - signalled < DRAIN_S
    return call_sid, code


def check_logs(dep: Deployment, log: str, calls: list[str]) -> None:
    """Every line is a JSON object; every call has lines naming it; no secret anywhere."""
    problems = []
    entries = []
    lines = [line for line in log.splitlines() if line.strip()]
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            entry = None
        if isinstance(entry, dict) and {"level", "message"} <= set(entry):
            entries.append(entry)
    if len(entries) != len(lines):
        plain = [line for line in lines if not line.startswith("{")]
        problems.append(
            f"{len(lines) - len(entries)} of {len(lines)} lines are not JSON: {plain[:4]}"
        )
    unnamed = set(calls) - {entry.get("call_sid") for entry in entries}
    if unnamed:
        problems.append(f"no JSON line names the call(s) {sorted(unnamed)}")
    for name, secret in dep.secrets.items():
        leaks = [line.replace(secret, "<" + name + ">") for line in lines if secret in line]
        if leaks:
            problems.append(f"{name} is written in {len(leaks)} line(s): {leaks[:2]}")
    assert not problems, "\n".join(problems)


READ_RECORDS = """
import json, sys
from pathlib import Path
from app.sinks.records import CallRecords
records = CallRecords(Path(sys.argv[1]))
print(json.dumps({call_sid: records.get(call_sid) for call_sid in sys.argv[2:]}))
"""


def check_records_and_recordings(dep: Deployment, calls: list[str]) -> None:
    """After the process ended: each call's record (read by the installed package, the
    schema is its own) and its recording."""
    listed = dep.run("calls", "--last", "10")  # the operator's view of the same records
    assert listed.returncode == 0, listed.stdout + listed.stderr
    read = subprocess.run(
        [str(dep.venv.python), "-c", READ_RECORDS, str(dep.records_path), *calls],
        cwd=dep.workdir,
        env=dep.env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert read.returncode == 0, read.stderr
    records = json.loads(read.stdout)
    for call_sid in calls:
        assert call_sid in listed.stdout
        assert records[call_sid] is not None, f"no record of {call_sid}"
        assert_record(records[call_sid])
    for call_sid in calls:
        with wave.open(str(dep.recordings / f"{call_sid}.wav")) as wav:
            assert (wav.getnchannels(), wav.getframerate(), wav.getsampwidth()) == (2, 8000, 2)
            frames = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
        assert len(frames) // 2 >= 8000  # more than a second of call
        agent = frames[1::2].astype(np.float64)
        assert np.sqrt(np.mean(agent**2)) > 100, f"{call_sid}: no agent audio recorded"


async def serve_and_call(venv: Venv, entry: str, where: Path, timings: dict[str, Any]) -> None:
    """One entry point, every feature, every route; ``timings`` gets its phases."""
    began = time.monotonic()
    async with deployment(venv, entry, where) as dep, httpx.AsyncClient(timeout=30) as http:
        origin = await asyncio.to_thread(venv.imported_from, dep.env(), dep.workdir)
        assert origin.is_relative_to(venv.root), f"app imported from {origin}, not the venv"
        await check_settings(dep)
        server = ServerProcess(
            dep.command(), dep.env(), dep.workdir, where / "server.log", dep.base
        )
        await server.start()
        timings["startup_s"] = round(server.started_s, 1)
        calls_began = time.monotonic()
        try:
            calls = [
                await inbound_call_with_transfer(dep, http),
                await outbound_call_steered(dep, http),
                await call_hung_up_by_operator(dep, http),
            ]
            await operator_routes(dep, http, calls)
            if entry == "python -m app":
                drained, code = await drained_on_sigterm(dep, server, http)
                calls.append(drained)
            else:
                server.send(signal.SIGTERM)
                code = await server.wait(30)
        except BaseException as error:
            error.add_note(server.describe())
            raise
        finally:
            server.kill()
        timings["calls_and_shutdown_s"] = elapsed(calls_began)
        log = server.log_text()
        assert "Application shutdown complete" in log  # the lifespan closed the services
        check_logs(dep, log, calls)
        await asyncio.to_thread(check_records_and_recordings, dep, calls)
        assert not list(dep.workdir.iterdir()), "the server wrote into its working directory"
        if entry == "python -m app":  # it owns its signal handling: a drained exit is a success
            assert code == 0, f"python -m app exited {code} after draining"
        else:  # uvicorn re-raises the SIGTERM it handled once shut down (its own choice)
            assert code in (0, -signal.SIGTERM), f"{entry} exited {code} on SIGTERM"
    timings["total_s"] = elapsed(began)


def test_a_missing_python_skips_its_leg_unless_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REQUIRE_PY39", raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"no Python 3\.9\.9"):
        require_python("3.9.9", "REQUIRE_PY39")  # no interpreter reports that version
    monkeypatch.setenv("REQUIRE_PY39", "1")
    with pytest.raises(pytest.fail.Exception, match="REQUIRE_PY39=1 requires it"):
        require_python("3.9.9", "REQUIRE_PY39")
    assert find_python(f"{sys.version_info.major}.{sys.version_info.minor}") is not None


def test_the_wheel_holds_the_app_its_templates_and_its_page(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    packages = {
        name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")
    }
    assert packages == {"app"}, packages  # no tests/, bench/ or build leftovers
    for needed in (
        "app/py.typed",
        "app/telephony/templates/connect.xml",
        "app/telephony/templates/dial.xml",
        "app/server/static/softphone.html",
        "app/server/static/signin.html",
        "app/server/static/softphone-worklet.js",
    ):
        assert needed in names, needed
    info = next(n for n in names if n.endswith(".dist-info/METADATA"))
    with zipfile.ZipFile(wheel) as archive:
        metadata = archive.read(info).decode()
        licence = archive.read(info.replace("METADATA", "licenses/LICENSE")).decode()
    assert "License-Expression: Apache-2.0" in metadata.splitlines()
    assert licence == (ROOT / "LICENSE").read_text()


def first_line(error: BaseException) -> str:
    """What broke, in one line: the first failure's type and message."""
    while isinstance(error, BaseExceptionGroup) and error.exceptions:
        error = error.exceptions[0]
    lines = [line for line in str(error).splitlines() if line.strip()]
    return f"{type(error).__name__}: {lines[0] if lines else ''}"[:300]


def elapsed(since: float) -> float:
    return round(time.monotonic() - since, 1)


@pytest.mark.parametrize(("python_version", "dependencies"), LEGS)
async def test_the_installed_wheel_serves_calls(
    wheel: Path, tmp_path: Path, python_version: str, dependencies: Dependencies
) -> None:
    began = time.monotonic()
    leg = f"py{python_version}-{dependencies}"
    python = require_python(python_version, "REQUIRE_PY" + python_version.replace(".", ""))
    venv = await asyncio.to_thread(install, python, tmp_path / "venv", wheel, dependencies)
    assert venv.python_version.startswith(python_version + ".")
    runs: dict[str, dict[str, Any]] = {entry: {} for entry in ENTRY_POINTS}
    report = {
        "leg": leg,
        "python": venv.python_version,
        "versions": await asyncio.to_thread(venv.versions),
        "install_s": round(venv.install_s, 1),
        "runs": runs,
    }
    try:
        # Both entry points at once, each with its own stand-ins, port and directories:
        # the calls are paced in real time, so together they take little longer than
        # one. Each runs to its end even if the other fails, to report all it found.
        results = await asyncio.gather(
            *(
                serve_and_call(venv, entry, tmp_path / entry.split()[0], runs[entry])
                for entry in ENTRY_POINTS
            ),
            return_exceptions=True,
        )
        failed = [r for r in results if isinstance(r, BaseException)]
        if failed:
            raise BaseExceptionGroup(f"{leg}: the installed app failed", failed)
    finally:
        report["total_s"] = elapsed(began)
        failure = sys.exc_info()[1]
        report["passed"] = failure is None
        if failure is not None:
            report["failure"] = first_line(failure)
        out = ARTIFACTS / "deploy"
        out.mkdir(parents=True, exist_ok=True)
        (out / f"{leg}.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        print(f"\n[deploy] {json.dumps(report)}")
        if report["passed"]:  # a failed leg keeps its venv and logs to look at
            await asyncio.to_thread(shutil.rmtree, venv.root)
