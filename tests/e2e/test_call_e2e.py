"""End to end over real sockets: Twilio-like client → uvicorn serving the app →
the real google-genai client → TLS → the Gemini Live stand-in, and back.

The measured figures are printed (run with ``-s`` to see them):
    python -m pytest tests/e2e/test_call_e2e.py -s
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import scipy.signal
import websockets

from app.audio.convert import ulaw_to_pcm16
from app.telephony.captures import capture_ulaw
from app.telephony.emulator import TwilioEmulator
from tests.support.calls import (
    BARGE_IN,
    CALL_SID,
    QUESTION,
    REPLY,
    answer_question,
    call_tasks,
    reply_talked_over,
    start_call,
)
from tests.support.gemini_standin import GeminiStandIn, StandInConnection
from tests.support.server import (
    AUTH_TOKEN,
    PUBLIC_URL,
    serve_app,
    serve_asgi,
    settings_for,
)
from tests.support.signals import best_lag, from_pcm16, normalised_correlation, snr_db


async def test_question_and_answer_audio_round_trip(
    standin: GeminiStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    standin.scenario = answer_question
    async with serve_app(settings_for(standin)) as server:
        _, stream = await start_call(server)
        await stream.replay(QUESTION, stop=False)
        expected_ulaw = len(REPLY) // 2 // 3
        await stream.wait_for(lambda: len(stream.heard) >= expected_ulaw, timeout=15)
        await stream.wait_for(lambda: len(stream.marks_echoed) == stream.marks_sent, timeout=5)
        await stream.stop(CALL_SID)
        await stream.wait_closed()
        conn = standin.connections[0]
        await conn.wait_for(lambda: conn.ws.close_code is not None)

    # (a) the caller's audio reached Gemini as 16 kHz PCM, nothing lost
    caller_ulaw = capture_ulaw(QUESTION)
    assert len(conn.audio) == 2 * 2 * len(caller_ulaw)
    assert conn.audio_frames == len(caller_ulaw) // 160
    assert not conn.bad_mime
    reference_16k = scipy.signal.resample_poly(from_pcm16(ulaw_to_pcm16(caller_ulaw)), 2, 1)
    received_16k = from_pcm16(bytes(conn.audio))
    lag = best_lag(reference_16k, received_16k, 100)
    correlation = normalised_correlation(reference_16k, received_16k[lag:])
    print(f"\n[e2e] caller audio at Gemini: correlation {correlation:.4f} (lag {lag} samples)")
    assert correlation >= 0.98

    # (b) Gemini's reply reached the caller as µ-law matching a reference downsampling
    reference_8k = scipy.signal.resample_poly(from_pcm16(REPLY), 1, 3)
    received_8k = from_pcm16(ulaw_to_pcm16(bytes(stream.media_received)))
    lag = best_lag(reference_8k, received_8k, 50)
    n = min(len(reference_8k), len(received_8k) - lag)
    snr = snr_db(reference_8k[:n], received_8k[lag : lag + n])
    print(f"[e2e] agent audio at the caller: SNR {snr:.1f} dB (lag {lag} samples)")
    assert snr >= 25
    assert len(stream.media_received) >= expected_ulaw

    # every media message is followed by its mark, and the marks came back
    events = [m["event"] for _, m in stream.received]
    assert events[0] == "media" and events.count("media") == events.count("mark")
    assert len(stream.marks_echoed) == events.count("mark")

    # the transcripts are logged with the CallSid
    text = caplog.text
    assert f"[call {CALL_SID}" in text
    assert "caller said: 'What time does the store open tomorrow?'" in text
    assert "agent turn 1" in text and "nine in the morning" in text
    assert not server.calls.active
    assert setup_has_transcription(conn)


def setup_has_transcription(conn: StandInConnection) -> bool:
    setup = conn.setup
    keys = set(setup)
    return bool(
        {"inputAudioTranscription", "input_audio_transcription"} & keys
        and {"outputAudioTranscription", "output_audio_transcription"} & keys
    )


async def test_barge_in_sends_clear_and_no_audio_of_the_interrupted_turn_follows(
    standin: GeminiStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    caller_ms = len(capture_ulaw(BARGE_IN)) / 8
    timeline: dict[str, float] = {}

    async def scenario(conn: StandInConnection) -> None:
        stop, speaking = await reply_talked_over(conn)
        stop.set()
        await speaking
        timeline["interrupted"] = time.monotonic()
        await conn.interrupted()
        await conn.transcript("caller", "Wait, sorry, I have another question.")
        await conn.turn_complete()
        await conn.wait_audio_ms(caller_ms - 200, timeout=15)
        timeline["second_turn"] = time.monotonic()
        await conn.send_audio(REPLY[: 48000 * 1])  # one second
        await conn.turn_complete()

    standin.scenario = scenario
    async with serve_app(settings_for(standin)) as server:
        _, stream = await start_call(server)
        await stream.replay(BARGE_IN, stop=False)
        await stream.wait_for(lambda: "second_turn" in timeline, timeout=15)
        await stream.wait_for(lambda: len(stream.marks_echoed) == stream.marks_sent, timeout=5)
        await stream.stop(CALL_SID)
        await stream.wait_closed()
        assert not call_tasks()

    assert len(stream.clears) == 1
    clear_at = stream.clears[0]
    latency_ms = 1000 * (clear_at - timeline["interrupted"])
    print(f"\n[e2e] interrupted → clear at the Twilio client: {latency_ms:.2f} ms")
    assert clear_at > timeline["interrupted"]
    # Nothing of the interrupted turn after the clear: the next media is the next turn's.
    after_clear = [(t, m) for t, m in stream.received if t >= clear_at and m["event"] != "clear"]
    assert after_clear, "the second turn was not played"
    assert all(t > timeline["second_turn"] for t, _ in after_clear)
    marks_after = [m["mark"]["name"] for _, m in after_clear if m["event"] == "mark"]
    assert marks_after and all(name.startswith("g1-t2-") for name in marks_after)
    # The playback ledger knows the caller heard only part of turn 1.
    line = next(
        r.getMessage() for r in caplog.records if "interrupted: caller heard" in r.getMessage()
    )
    heard, sent = (float(x) for x in re.findall(r"heard (\d+) of (\d+) ms", line)[0])
    assert 0 < heard < sent
    played_before_clear = (
        sum(
            len(m["media"]["payload"]) * 3 // 4
            for t, m in stream.received
            if m["event"] == "media" and t < clear_at
        )
        / 8
    )
    assert heard <= played_before_clear


async def test_greeting_makes_the_bot_speak_first(standin: GeminiStandIn) -> None:
    greeting = "Say hello & welcome the caller <warmly>."

    async def scenario(conn: StandInConnection) -> None:
        await conn.wait_text()
        await conn.send_audio(REPLY[: 48000 // 2])
        await conn.turn_complete()

    standin.scenario = scenario
    async with serve_app(settings_for(standin, greeting=greeting)) as server:
        _, stream = await start_call(server)
        await stream.replay(QUESTION[:2])  # connected + start, and the caller says nothing
        await stream.wait_for(lambda: len(stream.media_received) > 0)
        conn = standin.connections[0]
        assert conn.texts == [greeting]
        assert conn.audio_frames == 0
        await stream.stop(CALL_SID)
        await stream.wait_closed()


async def test_without_greeting_the_bot_waits(standin: GeminiStandIn) -> None:
    async with serve_app(settings_for(standin, greeting="")) as server:
        _, stream = await start_call(server)
        await stream.replay(QUESTION[:12])
        conn = standin.connections[0]
        await conn.wait_audio_ms(200)
        assert conn.texts == []
        await stream.stop(CALL_SID)
        await stream.wait_closed()


async def test_unsigned_requests_are_refused_and_open_no_session(standin: GeminiStandIn) -> None:
    async with serve_app(settings_for(standin)) as server:
        twilio = TwilioEmulator(server.base, PUBLIC_URL, AUTH_TOKEN)
        form = {"CallSid": CALL_SID, "From": "+15550100001", "To": "+15550100002"}
        assert (await twilio.post("/incoming-call", form, sign=False)).status_code == 403
        assert (await twilio.post("/incoming-call", form, signature="bm9wZQ==")).status_code == 403
        # Signed over the internal address instead of the public one: refused.
        internal = TwilioEmulator(server.base, server.base, AUTH_TOKEN)
        assert (await internal.post("/incoming-call", form)).status_code == 403
        # Signed with another account's token: refused.
        other = TwilioEmulator(server.base, PUBLIC_URL, "another-token")
        assert (await other.post("/incoming-call", form)).status_code == 403
        assert (await other.post("/call-ended", form)).status_code == 403

        for client, sign in ((twilio, False), (other, True)):
            with pytest.raises(websockets.InvalidStatus) as refused:
                await client.open_stream("wss://bot.example.com/media-stream", sign=sign)
            assert refused.value.response.status_code == 403
        assert (await twilio.post("/incoming-call", form)).status_code == 200
    assert standin.connections == []


async def test_stop_closes_the_gemini_session_and_leaves_no_task(standin: GeminiStandIn) -> None:
    async with serve_app(settings_for(standin)) as server:
        _, stream = await start_call(server)
        await stream.replay(QUESTION[:20])
        conn = standin.connections[0]
        await conn.wait_audio_ms(100)
        await stream.stop(CALL_SID)
        await stream.wait_closed()
        await conn.wait_for(lambda: conn.ws.close_code is not None, timeout=5)
        assert not call_tasks()
        assert not server.calls.active
        ended = await TwilioEmulator(server.base, PUBLIC_URL, AUTH_TOKEN).call_ended(CALL_SID)
        assert [el.tag for el in ET.fromstring(ended.text)] == ["Hangup"]


async def test_caller_hanging_up_abruptly_closes_the_session(standin: GeminiStandIn) -> None:
    async with serve_app(settings_for(standin)) as server:
        _, stream = await start_call(server)
        await stream.replay(QUESTION[:20])
        conn = standin.connections[0]
        await conn.wait_audio_ms(100)
        await stream.close()  # no stop message: the socket just goes
        await conn.wait_for(lambda: conn.ws.close_code is not None, timeout=5)
        await asyncio.sleep(0.05)
        assert not call_tasks()
        assert not server.calls.active


@pytest.mark.parametrize("failure", ["every connection fails", "bad api key"])
async def test_gemini_failure_ends_the_call_with_an_apology(
    standin: GeminiStandIn, caplog: pytest.LogCaptureFixture, failure: str
) -> None:
    standin.fail_setup = lambda index: True
    key = "wrong-key" if failure == "bad api key" else standin.api_key
    settings = settings_for(
        standin, gemini_api_key=key, apology_message="Sorry & goodbye.", reconnect_max_attempts=2
    )
    async with serve_app(settings) as server:
        twilio, stream = await start_call(server)
        await stream.replay(QUESTION[:20])
        await stream.wait_closed()
        assert stream.closed_code == 1000
        assert not call_tasks()
        ended = await twilio.call_ended(CALL_SID)
        root = ET.fromstring(ended.text)
        assert [el.tag for el in root] == ["Say", "Hangup"]
        assert root[0].text == "Sorry & goodbye."
    failure_lines = [r.getMessage() for r in caplog.records if "agent_failed" in r.getMessage()]
    assert failure_lines and CALL_SID in failure_lines[0]
    if failure == "bad api key":
        assert "1008" in failure_lines[0] and "API key not valid" in failure_lines[0]
        assert len(standin.connections) == 1  # never retried
    else:
        assert "gave up after 3 attempts" in failure_lines[0]
        assert len(standin.connections) == 3


async def test_fast_barge_in_clears_before_gemini_reports_the_interruption(
    standin: GeminiStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    timeline: dict[str, float] = {}

    async def slow_to_notice(conn: StandInConnection) -> None:
        await conn.wait_audio_ms(200)
        stop = asyncio.Event()
        speaking = asyncio.create_task(conn.send_audio(REPLY * 3, realtime=2.0, until=stop))
        await conn.wait_audio_ms(1500 + 600)  # Gemini's own detection is much later
        stop.set()
        await speaking
        timeline["interrupted"] = time.monotonic()
        await conn.interrupted()
        await conn.turn_complete()

    standin.scenario = slow_to_notice
    async with serve_app(settings_for(standin, fast_barge_in=True)) as server:
        _, stream = await start_call(server)
        began = time.monotonic()
        await stream.replay(BARGE_IN, stop=False)
        await stream.wait_for(lambda: "interrupted" in timeline, timeout=10)
        await stream.stop(CALL_SID)
        await stream.wait_closed()
        summary = server.calls.recent[-1]

    onset = began + 1.5  # the fixture's speech starts 1.5 s in
    assert len(stream.clears) == 1  # Gemini's later `interrupted` needs no second clear
    clear_at = stream.clears[0]
    print(
        f"\n[e2e] fast barge-in: speech onset → clear {1000 * (clear_at - onset):.0f} ms "
        f"(Gemini's interrupted came {1000 * (timeline['interrupted'] - onset):.0f} ms after onset)"
    )
    assert onset < clear_at < timeline["interrupted"]
    # nothing of the interrupted reply after the local clear, though Gemini kept sending
    assert not [m for t, m in stream.received if t > clear_at and m["event"] == "media"]
    assert summary.stats.fast_barge_ins == 1
    assert "fast barge-in: caller speech detected" in caplog.text


async def test_echo_mode_repeats_the_caller_without_gemini(tmp_path: Path) -> None:
    from app.server.app import create_app
    from app.settings import load_settings

    settings = load_settings(
        _env_file=None,
        agent="echo",
        twilio_auth_token=AUTH_TOKEN,
        public_url=PUBLIC_URL,
        call_records_path="",
    )
    assert settings.gemini_api_key is None
    async with serve_asgi(create_app(settings)) as server:
        _, stream = await start_call(server)
        await stream.replay(QUESTION, stop=False)
        caller = capture_ulaw(QUESTION)
        speech_bytes = sum(1 for b in caller if b not in (0xFF, 0x7F)) // 2
        await stream.wait_for(lambda: len(stream.media_received) >= speech_bytes, timeout=15)
        await stream.stop(CALL_SID)
        await stream.wait_closed()
    echoed = from_pcm16(ulaw_to_pcm16(bytes(stream.media_received)))
    original = from_pcm16(ulaw_to_pcm16(caller))
    lag = best_lag(echoed, original, 8000)  # the echo starts wherever the speech does
    segment = original[lag : lag + len(echoed)] if lag > 0 else original[: len(echoed)]
    correlation = normalised_correlation(segment, echoed[: len(segment)])
    print(f"\n[e2e] echo mode: {len(echoed) / 8000:.2f} s echoed, correlation {correlation:.3f}")
    assert correlation >= 0.9
