"""Telephony features end to end: tools, end_call, transfer, DTMF, outbound, the CLI.

Real sockets: the app under uvicorn, the real google-genai client over TLS to the
Gemini stand-in, the Twilio-like client, and Twilio's REST API played by a local
stand-in reached through the twilio library's HTTP-client extension point.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.telephony.emulator import TwilioEmulator
from app.telephony.media_stream import MediaStream
from tests.support import sample_tools
from tests.support.calls import QUESTION, REPLY, call_tasks
from tests.support.gemini_standin import GeminiStandIn, StandInConnection
from tests.support.server import (
    AUTH_TOKEN,
    PUBLIC_URL,
    RunningServer,
    serve_app,
    settings_for,
)
from tests.support.twilio_rest_standin import ACCOUNT_SID, TwilioRestStandIn

ROOT = Path(__file__).resolve().parents[2]
CALL_SID = QUESTION[1]["start"]["callSid"]
NOTICE = REPLY[:48000]  # one second of speech


async def start_call(server: RunningServer) -> tuple[TwilioEmulator, MediaStream]:
    twilio = TwilioEmulator(server.base, PUBLIC_URL, AUTH_TOKEN)
    stream = await twilio.open_stream(await twilio.incoming_call(CALL_SID))
    await stream.replay(QUESTION[:2])
    return twilio, stream


async def test_tools_are_declared_called_and_answered(standin: GeminiStandIn) -> None:
    answers: dict[str, Any] = {}

    async def scenario(conn: StandInConnection) -> None:
        await conn.wait_audio_ms(100)
        await conn.tool_call("c1", "opening_hours", {"day": "saturday"})
        await conn.tool_call("c2", "order_status", {"order_id": "zz9"})
        await conn.tool_call("c3", "no_such_tool", {})
        await conn.tool_call("c4", "broken", {"flag": True})
        await conn.tool_call("c5", "add", {"a": 2, "b": "x"})
        await conn.tool_call("c6", "shout", {"text": "hello"})
        for call_id in ("c1", "c2", "c3", "c4", "c5", "c6"):
            answers[call_id] = await conn.wait_tool_response(call_id)
        await conn.send_audio(NOTICE)  # the model goes on with what it learned
        await conn.turn_complete()

    standin.scenario = scenario
    settings = settings_for(standin, tool_modules="app.tools.examples, tests.support.sample_tools")
    async with serve_app(settings) as server:
        _, stream = await start_call(server)
        await stream.replay(QUESTION[2:40], realtime=2.0)
        await stream.wait_for(lambda: len(stream.media_received) >= len(NOTICE) // 6)
        await stream.stop(CALL_SID)
        await stream.wait_closed()

    declared = standin.connections[0].setup["tools"][0]["functionDeclarations"]
    by_name = {d["name"]: d for d in declared}
    assert set(by_name) >= {"opening_hours", "order_status", "slow_lookup", "add", "end_call"}
    assert by_name["order_status"]["behavior"] == "NON_BLOCKING"
    schema = (
        by_name["opening_hours"].get("parametersJsonSchema")
        or by_name["opening_hours"]["parameters_json_schema"]
    )
    assert schema["properties"]["day"]["enum"][0] == "monday"

    assert answers["c1"]["name"] == "opening_hours"
    assert answers["c1"]["response"] == {
        "result": {"day": "saturday", "open": True, "opens": "10:00", "closes": "16:00"}
    }
    assert answers["c2"]["response"]["error"]["type"] == "LookupError"
    assert answers["c2"]["scheduling"] == "WHEN_IDLE"
    assert answers["c3"]["response"]["error"]["type"] == "unknown_tool"
    assert answers["c4"]["response"]["error"] == {
        "type": "RuntimeError",
        "message": "the database is down",
        "retry": False,
        "hint": "Calling it again will not help now: tell the caller it could not be done.",
    }
    # The model's mistake (checked against the declaration before the call) is told apart
    # from the tool's own bug (a TypeError raised inside it).
    assert answers["c5"]["response"]["error"] == {
        "type": "bad_arguments",
        "message": "add's 'b' must be an integer, not 'x'",
        "retry": True,
        "hint": "Call it again with arguments that match its declaration.",
    }
    assert answers["c6"]["response"]["error"]["type"] == "TypeError"


async def test_slow_tools_time_out_and_cancelled_ones_get_no_answer(
    standin: GeminiStandIn,
) -> None:
    async def scenario(conn: StandInConnection) -> None:
        await conn.wait_audio_ms(100)
        await conn.tool_call("slow", "slow_lookup", {"topic": "timeout", "seconds": 5})
        await conn.tool_call("gone", "slow_lookup", {"topic": "cancel", "seconds": 5})
        await conn.wait_for(lambda: "cancel" in sample_tools.started)
        await conn.cancel_tool_calls("gone")
        await conn.tool_call("quick", "slow_lookup", {"topic": "quick", "seconds": 0.01})

    standin.scenario = scenario
    settings = settings_for(
        standin, tool_modules="tests.support.sample_tools", tool_timeout_seconds=0.5
    )
    async with serve_app(settings) as server:
        _, stream = await start_call(server)
        await stream.replay(QUESTION[2:20], realtime=2.0)
        conn = standin.connections[0]
        quick = await conn.wait_tool_response("quick")
        slow = await conn.wait_tool_response("slow")
        await asyncio.sleep(0.3)
        assert "gone" not in conn.tool_responses
        assert "cancel" not in sample_tools.finished
        await stream.stop(CALL_SID)
        await stream.wait_closed()
        assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("tool ")]
    assert quick["response"] == {"result": "all about quick"}
    assert slow["response"]["error"]["type"] == "timeout"


async def test_end_call_hangs_up_only_after_the_goodbye_was_heard(
    standin: GeminiStandIn,
) -> None:
    async def scenario(conn: StandInConnection) -> None:
        await conn.wait_audio_ms(100)
        await conn.send_audio(REPLY)  # three seconds of goodbye, sent in a burst
        await conn.tool_call("bye", "end_call", {"reason": "caller is done"})
        await conn.wait_tool_response("bye")
        await conn.turn_complete()

    standin.scenario = scenario
    async with serve_app(settings_for(standin)) as server:
        twilio, stream = await start_call(server)
        sending = asyncio.create_task(stream.replay(QUESTION[2:], realtime=1.0))
        await stream.wait_closed(timeout=15)
        closed_at = time.monotonic()
        sending.cancel()
        # Every byte of the goodbye was played, and every mark had come back.
        assert len(stream.heard) == len(stream.media_received) >= len(REPLY) // 6
        assert len(stream.marks_echoed) == stream.marks_sent
        assert closed_at - stream.received[0][0] >= len(REPLY) / 48000 - 0.1
        ended = await twilio.call_ended(CALL_SID)
        assert [el.tag for el in ET.fromstring(ended.text)] == ["Hangup"]
        assert not call_tasks()
    response = standin.connections[0].tool_responses["bye"]["response"]
    assert "goodbye" in response["result"]


@pytest.mark.parametrize("via", ["rest", "action url"])
async def test_transfer_after_the_notice(
    standin: GeminiStandIn, rest: tuple[TwilioRestStandIn, str], via: str
) -> None:
    rest_standin, rest_base = rest
    heard_at: dict[str, float] = {}

    async def scenario(conn: StandInConnection) -> None:
        await conn.wait_audio_ms(100)
        await conn.tool_call("t1", "transfer_call", {"target": "sales"})
        answer = await conn.wait_tool_response("t1")
        assert "connecting them to sales" in answer["response"]["result"]
        await conn.send_audio(NOTICE)
        await conn.turn_complete()

    standin.scenario = scenario
    extra = (
        {"twilio_account_sid": ACCOUNT_SID, "twilio_api_base_url": rest_base}
        if via == "rest"
        else {}
    )
    settings = settings_for(
        standin, transfer_targets="sales=+15551230001,support=+15551230002", **extra
    )
    async with serve_app(settings) as server:
        twilio, stream = await start_call(server)
        sending = asyncio.create_task(stream.replay(QUESTION[2:], realtime=1.0))
        await stream.wait_for(lambda: len(stream.heard) >= len(NOTICE) // 6, timeout=10)
        heard_at["notice"] = time.monotonic()
        await stream.wait_closed(timeout=10)
        sending.cancel()
        after = await twilio.call_ended(CALL_SID)
        again = await twilio.call_ended(CALL_SID)  # a replayed <Connect action>
    if via == "rest":
        update = rest_standin.last(f"/Calls/{CALL_SID}.json")
        dial = ET.fromstring(update.form["Twiml"]).find("Dial")
        assert dial is not None and dial.text == "+15551230001"
        # Twilio's REST API connected it: nothing is left for the <Connect action> to
        # dial (a stale transfer would be dialled on a later leg otherwise).
        assert [el.tag for el in ET.fromstring(after.text)] == ["Hangup"]
    else:
        assert not rest_standin.requests
        dial = ET.fromstring(after.text).find("Dial")  # the action dials it, once
        assert dial is not None and dial.text == "+15551230001"
    assert [el.tag for el in ET.fromstring(again.text)] == ["Hangup"]
    declared = standin.connections[0].setup["tools"][0]["functionDeclarations"]
    transfer = next(d for d in declared if d["name"] == "transfer_call")
    schema = transfer.get("parametersJsonSchema") or transfer["parameters_json_schema"]
    assert schema["properties"]["target"]["enum"] == ["sales", "support"]


@pytest.mark.parametrize("forward", [True, False])
async def test_keypad_presses_reach_the_model_as_text(
    standin: GeminiStandIn, forward: bool
) -> None:
    async with serve_app(settings_for(standin, forward_dtmf=forward)) as server:
        _, stream = await start_call(server)
        conn_ready = standin.connections
        await stream.replay(QUESTION[2:10], realtime=4.0)
        for digit in ("5", "#", "not-a-digit"):
            await stream.send_json(
                {
                    "event": "dtmf",
                    "streamSid": stream.stream_sid,
                    "sequenceNumber": "99",
                    "dtmf": {"track": "inbound_track", "digit": digit},
                }
            )
        await stream.replay(QUESTION[10:20], realtime=4.0)
        conn = conn_ready[0]
        await conn.wait_audio_ms(360)
        await stream.stop(CALL_SID)
        await stream.wait_closed()
    expected = [f"The caller pressed {d} on their phone's keypad." for d in ("5", "#")]
    assert conn.texts == (expected if forward else [])


async def test_outbound_call_through_the_operator_api(
    standin: GeminiStandIn, rest: tuple[TwilioRestStandIn, str]
) -> None:
    rest_standin, rest_base = rest

    async def scenario(conn: StandInConnection) -> None:
        await conn.wait_text()
        await conn.send_audio(NOTICE)
        await conn.turn_complete()

    standin.scenario = scenario
    settings = settings_for(
        standin,
        twilio_account_sid=ACCOUNT_SID,
        twilio_api_base_url=rest_base,
        twilio_from_number="+15550100002",
        operator_token="op-secret-123-0123456789abcdef01234",
        outbound_greeting="Introduce yourself.",
    )
    async with serve_app(settings) as server, httpx.AsyncClient() as http:
        calls = server.base + "/calls"
        wrong = await http.post(
            calls, json={"to": "+15557654321"}, headers={"Authorization": "Bearer nope"}
        )
        assert wrong.status_code == 401
        bad = await http.post(
            calls,
            json={"to": "555"},
            headers={"Authorization": "Bearer op-secret-123-0123456789abcdef01234"},
        )
        assert bad.status_code == 400
        placed = await http.post(
            calls,
            json={"to": "+15557654321"},
            headers={"Authorization": "Bearer op-secret-123-0123456789abcdef01234"},
        )
        assert placed.status_code == 201, placed.text
        create = rest_standin.last("/Calls.json")
        assert create.form["To"] == "+15557654321" and create.form["From"] == "+15550100002"
        assert create.form["Url"] == PUBLIC_URL + "/incoming-call"
        assert create.form["StatusCallback"] == PUBLIC_URL + "/call-status"
        # The callee answers: Twilio fetches our webhook for the outbound leg.
        twilio = TwilioEmulator(server.base, PUBLIC_URL, AUTH_TOKEN)
        instruction = await twilio.incoming_call(
            placed.json()["sid"], "+15550100002", "+15557654321", direction="outbound-api"
        )
        params = instruction.parameters
        assert params["direction"] == "outbound"
        stream = await twilio.open_stream(instruction)
        await stream.replay(QUESTION[:2])  # the callee says nothing yet
        await stream.wait_for(lambda: len(stream.media_received) >= len(NOTICE) // 6)
        assert standin.connections[0].texts == ["Introduce yourself."]
        assert standin.connections[0].audio_frames == 0  # the bot spoke first
        await stream.stop(params["callSid"])
        await stream.wait_closed()
        status = await twilio.call_status(params["callSid"], "completed", 4)
        assert status.status_code == 204


async def test_operator_api_is_off_without_its_settings(standin: GeminiStandIn) -> None:
    async with (
        serve_app(
            settings_for(standin, operator_token="t0ken-abc-0123456789abcdef0123456789")
        ) as server,
        httpx.AsyncClient() as http,
    ):
        response = await http.post(
            server.base + "/calls",
            json={"to": "+15557654321"},
            headers={"Authorization": "Bearer t0ken-abc-0123456789abcdef0123456789"},
        )
    assert response.status_code == 503
    assert "TWILIO_ACCOUNT_SID" in response.json()["error"]


def _cli(
    args: list[str], env_extra: dict[str, str], tmp_path: Path
) -> subprocess.CompletedProcess[str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("GEMINI_", "TWILIO_", "GOOGLE_"))
    }
    env.update(
        PYTHONPATH=str(ROOT),
        GEMINI_API_KEY="gk-secret-1",
        TWILIO_AUTH_TOKEN=AUTH_TOKEN,
        PUBLIC_URL=PUBLIC_URL,
        **env_extra,
    )
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_cli_call_configure_and_check(
    rest: tuple[TwilioRestStandIn, str], tmp_path: Path
) -> None:
    rest_standin, rest_base = rest
    env = {
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_API_BASE_URL": rest_base,
        "TWILIO_FROM_NUMBER": "+15550100002",
        "OPERATOR_TOKEN": "op-secret-xyz-0123456789abcdef012345",
        "TOOL_MODULES": "app.tools.examples",
        "TRANSFER_TARGETS": "desk=+15551230009",
    }
    called = await asyncio.to_thread(_cli, ["call", "+15557654321"], env, tmp_path)
    assert called.returncode == 0, called.stdout + called.stderr
    assert "calling +15557654321: call CA" in called.stdout
    assert rest_standin.last("/Calls.json").form["To"] == "+15557654321"

    configured = await asyncio.to_thread(_cli, ["configure-number", "+15550100002"], env, tmp_path)
    assert configured.returncode == 0, configured.stdout + configured.stderr
    update = rest_standin.last(f"/IncomingPhoneNumbers/{rest_standin.numbers['+15550100002']}.json")
    assert update.form["VoiceUrl"] == PUBLIC_URL + "/incoming-call"
    assert update.form["VoiceMethod"] == "POST"
    assert update.form["StatusCallback"] == PUBLIC_URL + "/call-status"

    unknown = await asyncio.to_thread(_cli, ["configure-number", "+15559999999"], env, tmp_path)
    assert unknown.returncode == 1 and "not a phone number of this Twilio account" in unknown.stdout

    checked = await asyncio.to_thread(_cli, ["check"], env, tmp_path)
    assert checked.returncode == 0
    assert "opening_hours, order_status, current_time, end_call, transfer_call" in checked.stdout
    assert "softphone          off" in checked.stdout
    softphone_env = {**env, "ENABLE_SOFTPHONE": "true"}
    on = await asyncio.to_thread(_cli, ["check"], softphone_env, tmp_path)
    assert f"softphone          {PUBLIC_URL}/softphone (OPERATOR_TOKEN)" in on.stdout
    for secret in ("gk-secret-1", AUTH_TOKEN, "op-secret-xyz"):
        assert secret not in checked.stdout + checked.stderr

    missing = await asyncio.to_thread(_cli, ["call", "+15557654321"], {}, tmp_path)
    assert missing.returncode == 2 and "TWILIO_ACCOUNT_SID" in missing.stdout
