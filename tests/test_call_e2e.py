"""End to end over real sockets: Twilio-like client → uvicorn serving the app →
the real google-genai client → TLS → the Gemini Live stand-in, and back.

The measured figures are printed (run with ``-s`` to see them):
    python -m pytest tests/test_call_e2e.py -s
"""

from __future__ import annotations

import logging
import wave

import pytest
import scipy.signal

from app.audio import ulaw_to_pcm16
from tests.conftest import FIXTURES
from tests.support.gemini_standin import GeminiStandIn, StandInConnection
from tests.support.server import AUTH_TOKEN, PUBLIC_URL, RunningServer, serve_app, settings_for
from tests.support.signals import best_lag, from_pcm16, normalised_correlation, snr_db
from tests.support.twilio_client import MediaStream, TwilioClient, capture_ulaw, load_capture

QUESTION = load_capture(FIXTURES / "caller_question.json")
BARGE_IN = load_capture(FIXTURES / "caller_barge_in.json")
CALL_SID = QUESTION[1]["start"]["callSid"]


def reply_pcm24k() -> bytes:
    with wave.open(str(FIXTURES / "agent_reply_24k.wav")) as wav:
        assert wav.getframerate() == 24000 and wav.getsampwidth() == 2
        return wav.readframes(wav.getnframes())


REPLY = reply_pcm24k()


async def start_call(
    server: RunningServer, *, sign: bool = True
) -> tuple[TwilioClient, MediaStream]:
    twilio = TwilioClient(server.base, PUBLIC_URL, AUTH_TOKEN)
    instruction = await twilio.incoming_call(CALL_SID)
    assert instruction.url == "wss://bot.example.com/media-stream"
    stream = await twilio.open_stream(instruction.url, sign=sign)
    return twilio, stream


async def answer_question(conn: StandInConnection) -> None:
    caller_ms = len(capture_ulaw(QUESTION)) / 8
    await conn.wait_audio_ms(caller_ms - 200, timeout=15)
    await conn.transcript("caller", "What time does the store open tomorrow?")
    await conn.send_audio(REPLY, chunk_ms=40)  # a burst, faster than real time
    await conn.transcript("agent", "Sure. The store opens at nine in the morning.")
    await conn.generation_complete()
    await conn.turn_complete()


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
    assert not server.book.active
    assert setup_has_transcription(conn)


def setup_has_transcription(conn: StandInConnection) -> bool:
    setup = conn.setup
    keys = set(setup)
    return bool(
        {"inputAudioTranscription", "input_audio_transcription"} & keys
        and {"outputAudioTranscription", "output_audio_transcription"} & keys
    )
