"""Nobody gets in, nothing breaks: stream tokens, limits, hostile input, secrets.

Real sockets throughout: uvicorn serving the app, the real google-genai client over
TLS to the stand-in, and the Twilio-like client (signed with Twilio's own algorithm).
"""

from __future__ import annotations

import asyncio
import json
import signal
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import httpx
import pytest
import scipy.signal
import websockets
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from app.audio.convert import ulaw_to_pcm16
from app.call.outcome import CloseCode, Outcome
from app.errors import ProtocolError
from app.telephony import wire
from app.telephony.captures import capture_ulaw
from app.telephony.emulator import TwilioEmulator
from tests.support.calls import QUESTION, REPLY, answer_question
from tests.support.gemini_standin import GeminiStandIn, StandInConnection, idle
from tests.support.hostile import hostile_frames
from tests.support.process import start_server
from tests.support.server import (
    AUTH_TOKEN,
    PUBLIC_URL,
    serve_app,
    settings_for,
)
from tests.support.signals import best_lag, from_pcm16, snr_db

ROOT = Path(__file__).resolve().parents[2]
STREAM_SID = QUESTION[1]["streamSid"]


def twilio_for(base: str) -> TwilioEmulator:
    return TwilioEmulator(base, PUBLIC_URL, AUTH_TOKEN)


async def closed_code(ws: Any, timeout: float = 5.0) -> int:
    async with asyncio.timeout(timeout):
        try:
            while True:
                await ws.recv()
        except websockets.ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd else 1006


# stream tokens


async def test_a_leaked_stream_url_cannot_start_a_session(standin: GeminiStandIn) -> None:
    async with serve_app(settings_for(standin)) as server:
        twilio = twilio_for(server.base)
        instruction = await twilio.incoming_call("CA" + "1" * 32)
        # Correctly signed handshake, but the start carries no token (a leaked URL).
        stream = await twilio.open_stream(instruction.url)
        await stream.replay(QUESTION[:5])
        await stream.wait_closed()
        assert stream.closed_code == 1008
        # Someone else's token: bound to another CallSid.
        forged = {**instruction.parameters, "callSid": "CA" + "2" * 32}
        stream = await twilio.open_stream(instruction.url)
        stream.parameters = forged
        await stream.replay(QUESTION[:5])
        await stream.wait_closed()
        assert stream.closed_code == 1008
        assert server.calls.refused == 2
    assert standin.connections == []


async def test_a_replayed_stream_token_is_refused(standin: GeminiStandIn) -> None:
    async with serve_app(settings_for(standin)) as server:
        twilio = twilio_for(server.base)
        instruction = await twilio.incoming_call("CA" + "3" * 32)
        first = await twilio.open_stream(instruction)
        await first.replay(QUESTION[:10])
        await standin.connections[0].wait_audio_ms(100)
        replay = await twilio.open_stream(instruction)  # the same TwiML parameters again
        await replay.replay(QUESTION[:10])
        await replay.wait_closed()
        assert replay.closed_code == 1008
        assert len(standin.connections) == 1
        await first.close()


# limits


async def test_over_capacity_callers_hear_busy_and_open_no_session(
    standin: GeminiStandIn,
) -> None:
    async with serve_app(
        settings_for(standin, max_concurrent_calls=1, busy_message="Busy!")
    ) as server:
        twilio = twilio_for(server.base)
        first = await twilio.incoming_call("CA" + "4" * 32)
        # The first call has not connected yet, but its place is taken.
        form = {"CallSid": "CA" + "5" * 32, "From": "+15550100009", "To": "+15550100002"}
        busy = await twilio.post("/incoming-call", form)
        root = ET.fromstring(busy.text)
        assert [el.tag for el in root] == ["Say", "Hangup"] and root[0].text == "Busy!"
        stream = await twilio.open_stream(first)
        await stream.replay(QUESTION[:10])
        await standin.connections[0].wait_audio_ms(100)
        busy_again = ET.fromstring((await twilio.post("/incoming-call", form)).text)
        assert [el.tag for el in busy_again] == ["Say", "Hangup"]
        health = (await httpx.AsyncClient().get(server.base + "/healthz")).json()
        assert health["active_calls"] == 1 and health["calls_refused"] == 2
        await stream.close()
    assert len(standin.connections) == 1


async def test_oversized_websocket_messages_are_refused(standin: GeminiStandIn) -> None:
    async with serve_app(settings_for(standin)) as server:
        twilio = twilio_for(server.base)
        stream = await twilio.open_stream(await twilio.incoming_call("CA" + "6" * 32))
        await stream.replay(QUESTION[:2])
        await stream.ws.send("x" * (128 * 1024))
        await stream.wait_closed()
        assert stream.closed_code == 1009  # message too big


@pytest.mark.parametrize("attack", ["malformed", "flood"])
async def test_floods_close_only_the_offending_stream(standin: GeminiStandIn, attack: str) -> None:
    settings = settings_for(standin, max_malformed_messages=50, max_messages_per_second=100)
    async with serve_app(settings) as server:
        twilio = twilio_for(server.base)
        stream = await twilio.open_stream(await twilio.incoming_call("CA" + "7" * 32))
        await stream.replay(QUESTION[:2])
        media = json.dumps(QUESTION[5])
        for _ in range(400):
            try:
                await stream.ws.send("{nope" if attack == "malformed" else media)
            except websockets.ConnectionClosed:
                break
        await stream.wait_closed()
        assert stream.closed_code == 1008
        summary = server.calls.recent[-1]
        assert summary.outcome.value == "protocol_violation"
        assert ("malformed" if attack == "malformed" else "flood") in summary.reason


# hostile input against a running server, while a normal call completes


@pytest.fixture(scope="module")
def hostile_corpus() -> list[str | bytes]:
    """Frames drawn by hypothesis from tests/support/hostile.py (about 2,000: 300 draws of 6-8)."""
    frames: list[str | bytes] = []

    @settings(
        max_examples=300,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(st.lists(hostile_frames(STREAM_SID), min_size=6, max_size=8))
    def draw(batch: list[str | bytes]) -> None:
        frames.extend(batch)

    draw()
    return frames


def _stops(frame: str | bytes) -> bool:
    try:
        return isinstance(wire.parse(frame), wire.Stop)
    except ProtocolError:
        return False


def test_the_parser_meets_thousands_of_hostile_frames(hostile_corpus: list[str | bytes]) -> None:
    assert len(hostile_corpus) >= 1000
    outcomes = {"event": 0, "ignored": 0, "refused": 0}
    for frame in hostile_corpus:
        try:
            outcomes["event" if wire.parse(frame) is not None else "ignored"] += 1
        except ProtocolError as error:
            assert error.reason
            outcomes["refused"] += 1
    assert all(outcomes.values()), outcomes  # the corpus exercises every path


async def test_hostile_streams_do_not_disturb_a_normal_call(
    tmp_path: Path, hostile_corpus: list[str | bytes]
) -> None:
    async def scenario(conn: StandInConnection) -> None:
        await (answer_question if conn.index == 0 else idle)(conn)

    hostile_sid = "CA" + "e" * 32
    normal_sid = QUESTION[1]["start"]["callSid"]
    async with GeminiStandIn(tmp_path, scenario) as standin:
        settings_ = settings_for(
            standin, max_malformed_messages=100_000, max_messages_per_second=100_000
        )
        async with serve_app(settings_) as server:
            twilio = twilio_for(server.base)
            normal = await twilio.open_stream(await twilio.incoming_call(normal_sid))
            normal_call = asyncio.create_task(normal.replay(QUESTION, stop=False))
            while not standin.connections:
                await asyncio.sleep(0.01)

            hostile = await twilio.open_stream(await twilio.incoming_call(hostile_sid))
            await hostile.replay(QUESTION[:2])  # a valid start with a valid token
            sent = 0
            # A well-formed `stop` for this stream legitimately ends the call: leave those out.
            frames = [f for f in hostile_corpus if not _stops(f)] * 2
            for frame in frames:
                await hostile.ws.send(frame)
                sent += 1
                if sent % 50 == 0:
                    await asyncio.sleep(0.02)  # spread over the normal call
            await hostile.stop(hostile_sid)
            await hostile.wait_closed()
            assert hostile.closed_code != 1011  # never an internal error

            await normal_call
            await normal.wait_for(lambda: len(normal.media_received) >= len(REPLY) // 6, timeout=15)
            await normal.stop(normal_sid)
            await normal.wait_closed()
            summaries = {s.call_sid: s for s in server.calls.recent}

        # The normal call was not disturbed: all its audio went through, both ways.
        caller = capture_ulaw(QUESTION)
        assert len(standin.connections[0].audio) == 4 * len(caller)
        reference = scipy.signal.resample_poly(from_pcm16(REPLY), 1, 3)
        received = from_pcm16(ulaw_to_pcm16(bytes(normal.media_received)))
        lag = best_lag(reference, received, 50)
        n = min(len(reference), len(received) - lag)
        assert snr_db(reference[:n], received[lag : lag + n]) >= 25
        assert summaries[normal_sid].outcome.value == "completed"
        assert summaries[normal_sid].stats.malformed_frames == 0
        stats = summaries[hostile_sid].stats
        assert summaries[hostile_sid].outcome.value == "completed"
        assert stats.malformed_frames > 500 and stats.ignored_frames > 0 and stats.frames_in > 0
        print(
            f"\n[security] hostile frames sent: {sent}; refused as malformed "
            f"{stats.malformed_frames}, ignored {stats.ignored_frames}, forwarded "
            f"{stats.frames_in}; normal call disturbed: no"
        )


# the process as operators run it: draining on SIGTERM, and no secret in any log line


async def call_in_progress(
    standin: GeminiStandIn, twilio: TwilioEmulator
) -> tuple[Any, asyncio.Task[Any]]:
    """A call whose caller is still talking, once Gemini hears them."""
    stream = await twilio.open_stream(await twilio.incoming_call(QUESTION[1]["start"]["callSid"]))
    sending = asyncio.create_task(stream.replay(QUESTION, stop=False))
    while not standin.connections:
        await asyncio.sleep(0.01)
    await standin.connections[0].wait_audio_ms(200)
    return stream, sending


async def test_sigterm_drains_calls_politely(standin: GeminiStandIn, tmp_path: Path) -> None:
    async def goodbye_on_request(conn: StandInConnection) -> None:
        text = await conn.wait_text(timeout=20)
        assert "goodbye" in text.lower()
        await conn.send_audio(REPLY, realtime=2.0)
        await conn.turn_complete()

    standin.scenario = goodbye_on_request
    process, base, log_path = await start_server(standin, tmp_path, SHUTDOWN_DRAIN_SECONDS="20")
    try:
        twilio = twilio_for(base)
        stream, sending = await call_in_progress(standin, twilio)
        process.send_signal(signal.SIGTERM)
        await asyncio.sleep(0.3)
        async with httpx.AsyncClient() as http:
            health = await http.get(base + "/healthz")
            assert health.status_code == 503 and health.json()["status"] == "draining"
        busy = await twilio.post(
            "/incoming-call", {"CallSid": "CA" + "8" * 32, "From": "+1", "To": "+2"}
        )
        assert [el.tag for el in ET.fromstring(busy.text)] == ["Say", "Hangup"]
        await stream.wait_closed(timeout=20)
        # the goodbye was played in full before the hang-up
        assert len(stream.heard) == len(stream.media_received) >= len(REPLY) // 6
        await sending
        # uvicorn re-raises the captured SIGTERM once shut down, so it exits by that signal
        assert await asyncio.to_thread(process.wait, 20) in (0, -signal.SIGTERM)
    finally:
        if process.poll() is None:
            process.kill()
    log = log_path.read_text()
    assert "ending 1 call(s) politely" in log and "server shutting down" in log


async def test_a_second_ctrl_c_stops_at_once_and_quietly(
    standin: GeminiStandIn, tmp_path: Path
) -> None:
    standin.scenario = idle  # the model never says goodbye: the drain would wait its 30 s
    process, base, log_path = await start_server(standin, tmp_path, SHUTDOWN_DRAIN_SECONDS="30")
    try:
        twilio = twilio_for(base)
        _, sending = await call_in_progress(standin, twilio)
        process.send_signal(signal.SIGINT)
        async with asyncio.timeout(10):
            while "press Ctrl-C again" not in log_path.read_text():
                await asyncio.sleep(0.05)
        process.send_signal(signal.SIGINT)
        assert await asyncio.to_thread(process.wait, 10) == 0  # not the drain's 30 s
        sending.cancel()
    finally:
        if process.poll() is None:
            process.kill()
    log = log_path.read_text()
    assert (
        "SIGINT: finishing the calls in progress first; press Ctrl-C again (or send the signal"
        " again) to stop at once" in log
    )
    assert "a second signal: stopping at once, cutting 1 call(s)" in log
    assert "Application shutdown complete" in log  # the records were closed
    assert " ERROR " not in log and "Traceback" not in log and "CancelledError" not in log, log


async def test_no_secret_reaches_logs_health_or_errors(
    standin: GeminiStandIn, tmp_path: Path
) -> None:
    standin.scenario = answer_question
    operator = "operator-token-0123456789-abcdefghij"
    process, base, log_path = await start_server(
        standin, tmp_path, LOG_LEVEL="debug", OPERATOR_TOKEN=operator, ENABLE_SOFTPHONE="true"
    )
    try:
        twilio = twilio_for(base)
        async with httpx.AsyncClient() as http:  # the token in an address (access log)
            opened = await http.get(base + "/softphone", params={"token": operator})
            assert opened.status_code == 401 and "not accepted there" in opened.text
            signed_in = await http.post(base + "/softphone", data={"token": operator})
            assert signed_in.status_code == 303
        instruction = await twilio.incoming_call(QUESTION[1]["start"]["callSid"])
        token = instruction.parameters["streamToken"]
        stream = await twilio.open_stream(instruction)
        await stream.replay(QUESTION, stop=False)
        await stream.wait_for(lambda: len(stream.heard) >= len(REPLY) // 6, timeout=15)
        await stream.stop(QUESTION[1]["start"]["callSid"])
        await stream.wait_closed()
        # a replayed token and a bad signature, so refusals are logged too
        again = await twilio.open_stream(instruction)
        await again.replay(QUESTION[:3])
        await again.wait_closed()
        await twilio.post("/incoming-call", {"CallSid": "CA1"}, signature="forged")
        async with httpx.AsyncClient() as http:
            health = (await http.get(base + "/healthz")).text
    finally:
        process.terminate()
        await asyncio.to_thread(process.wait, 20)
    log = log_path.read_text()
    assert "caller said" in log and "stream token already used" in log  # the call was logged
    assert "GET /softphone?token=[redacted]" in log
    for secret in (standin.api_key, AUTH_TOKEN, operator, token, token.split(".")[2]):
        assert secret not in log
        assert secret not in health


def test_config_errors_never_echo_secrets() -> None:
    from app.errors import ConfigError
    from app.settings import load_settings

    with pytest.raises(ConfigError) as error:
        load_settings(_env_file=None, gemini_api_key="sk-very-secret", twilio_auth_token=["sk-tok"])
    assert "sk-very-secret" not in str(error.value) and "sk-tok" not in str(error.value)
    assert "TWILIO_AUTH_TOKEN" in str(error.value) and "hidden" in str(error.value)


def test_every_outcome_and_close_code_is_documented() -> None:
    """The logs page names every outcome a call can end with, and every close code the
    server sends, from the code's own lists (a new one must be documented)."""
    readme = (ROOT / "docs" / "observability.md").read_text()
    for outcome in Outcome:
        assert f"`{outcome.value}`" in readme, outcome
    for code in CloseCode:
        assert str(int(code)) in readme, code
