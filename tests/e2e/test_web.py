"""The HTTP edge: health, TwiML answers, and signatures on real-world URL shapes."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import httpx
import pytest

from app.rotation import Rotating
from app.telephony.emulator import TwilioEmulator
from app.telephony.signatures import SignatureChecker, websocket_url
from tests.support.gemini_standin import GeminiStandIn
from tests.support.server import (
    AUTH_TOKEN,
    free_port,
    process_env,
    serve_app,
    settings_for,
    settings_for_echo,
)


async def test_healthz_reports_ready(standin: GeminiStandIn) -> None:
    async with serve_app(settings_for(standin)) as server, httpx.AsyncClient() as http:
        response = await http.get(server.base + "/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["active_calls"] == 0
    assert body["signature_validation"] is True
    assert (body["agent"], body["model"]) == ("gemini", "gemini-3.8-live")
    assert AUTH_TOKEN not in response.text and standin.api_key not in response.text


async def test_healthz_in_echo_mode_names_no_model() -> None:
    async with serve_app(settings_for_echo()) as server, httpx.AsyncClient() as http:
        body = (await http.get(server.base + "/healthz")).json()
    assert body["agent"] == "echo" and "model" not in body


@pytest.mark.parametrize(
    "public_url",
    # a plain host, a port, and a path prefix (a proxy that strips /voice before the app)
    ["https://bot.example.com", "https://bot.example.com:8443", "https://example.com/voice"],
)
async def test_webhook_signed_for_the_public_url_is_accepted(
    standin: GeminiStandIn, public_url: str
) -> None:
    async with serve_app(settings_for(standin, public_url=public_url)) as server:
        twilio = TwilioEmulator(server.base, public_url, AUTH_TOKEN)
        instruction = await twilio.incoming_call("CA" + "9" * 32, caller="+442079460000")
        assert instruction.url == websocket_url(public_url, "/media-stream")
        assert instruction.parameters["from"] == "+442079460000"
        assert instruction.parameters["callSid"] == "CA" + "9" * 32
        assert instruction.action == public_url + "/call-ended"
        assert instruction.after_connect == []  # the action URL decides what follows


def test_signature_checker_with_query_strings_and_ports() -> None:
    from twilio.request_validator import RequestValidator

    validator = RequestValidator(AUTH_TOKEN)
    checker = SignatureChecker(Rotating(AUTH_TOKEN), "https://bot.example.com:8443/")
    form = {"CallSid": "CA1", "From": "+15550100001"}
    url = "https://bot.example.com:8443/incoming-call?tenant=a%20b&x=1"
    signature = validator.compute_signature(url, form)
    assert checker.webhook_ok("/incoming-call", "tenant=a%20b&x=1", form, signature)
    assert not checker.webhook_ok("/incoming-call", "tenant=other", form, signature)
    assert not checker.webhook_ok("/incoming-call", "", {**form, "From": "+1"}, signature)
    stream_sig = validator.compute_signature("wss://bot.example.com:8443/media-stream", {})
    assert checker.stream_ok("/media-stream", stream_sig)
    assert not checker.stream_ok("/media-stream", None)


async def test_unsigned_mode_warns_loudly_and_reports_it(
    standin: GeminiStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    settings = settings_for(
        standin, twilio_auth_token=None, public_url=None, allow_unsigned_requests=True
    )
    async with serve_app(settings) as server, httpx.AsyncClient() as http:
        health = (await http.get(server.base + "/healthz")).json()
        response = await http.post(
            server.base + "/incoming-call", data={"CallSid": "CA" + "1" * 32}
        )
    assert health["signature_validation"] is False
    assert "NOT checked" in health["warning"]
    assert "signatures are NOT checked" in caplog.text
    stream = ET.fromstring(response.text).find("Connect/Stream")
    assert stream is not None and stream.attrib["url"].startswith("ws://127.0.0.1:")


@pytest.mark.parametrize("command", ["uvicorn", "python -m app"])
async def test_entry_points_serve_the_app(tmp_path: Path, command: str) -> None:
    port = free_port()
    # The REST account set: its aiohttp session needs the running loop (it once stopped
    # both entry points with "no running event loop" before uvicorn's loop ran).
    env = process_env(
        GEMINI_API_KEY="k",
        PORT=str(port),
        HOST="127.0.0.1",
        TWILIO_AUTH_TOKEN=AUTH_TOKEN,
        PUBLIC_URL="https://bot.example.com",
        TWILIO_ACCOUNT_SID="AC" + "1" * 32,
        TWILIO_FROM_NUMBER="+15550100002",
    )
    argv = (
        [sys.executable, "-m", "uvicorn", "app.main:app", "--port", str(port)]
        if command == "uvicorn"
        else [sys.executable, "-m", "app"]
    )
    log = (tmp_path / "server.log").open("w")
    process = subprocess.Popen(argv, cwd=tmp_path, env=env, stderr=log)
    try:
        async with httpx.AsyncClient() as http:
            for _ in range(100):
                try:
                    response = await http.get(f"http://127.0.0.1:{port}/healthz")
                    break
                except httpx.ConnectError:
                    await asyncio.sleep(0.1)
            else:
                pytest.fail("the server did not come up: " + (tmp_path / "server.log").read_text())
            # The documented header limit holds under either entry point (plain uvicorn
            # parses with httptools, without the connection guard: the app measures it).
            big = await http.get(
                f"http://127.0.0.1:{port}/healthz", headers={"X-Big": "a" * 60_000}
            )
        assert response.json()["status"] == "ok"
        assert big.status_code == 431
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


async def test_webhook_with_a_query_string_is_signed_over_it(standin: GeminiStandIn) -> None:
    async with serve_app(settings_for(standin)) as server:
        twilio = TwilioEmulator(server.base, "https://bot.example.com", AUTH_TOKEN)
        form = {"CallSid": "CA" + "8" * 32, "From": "+15550100001"}
        ok = await twilio.post("/incoming-call?tenant=a%20b&line=2", form)
        assert ok.status_code == 200
        # The same signature presented for another query string is refused.
        signature = twilio.validator.compute_signature(  # type: ignore[union-attr]
            "https://bot.example.com/incoming-call?tenant=a%20b&line=2", form
        )
        moved = await twilio.post("/incoming-call?tenant=other", form, signature=signature)
        assert moved.status_code == 403
        call, stream = "CA" + "8" * 32, "MZ" + "8" * 32
        assert (
            await twilio.stream_status(call, stream, "stream-error", "31951")
        ).status_code == 204
        unsigned = await twilio.stream_status(call, stream, "stream-error", "31951", sign=False)
        assert unsigned.status_code == 403
