"""The hot path's own reading of Gemini Live messages: plain model audio is decoded
without the SDK, and gives exactly the events the SDK's reading gives; anything else
is left to the SDK."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from google import genai
from google.genai import types
from hypothesis import given, settings
from hypothesis import strategies as st

from app.agent.events import AgentAudio, Ignored
from app.agent.gemini.session import _FROM_WIRE, SDK_VERSION, read_message, read_with_sdk
from app.agent.gemini.wire import ErrorReport, audio_message, error_report, model_audio
from app.errors import AgentSessionError


def audio_part(pcm: bytes, mime: str = "audio/pcm;rate=24000") -> dict[str, Any]:
    return {"inlineData": {"mimeType": mime, "data": base64.b64encode(pcm).decode()}}


def model_turn(*parts: dict[str, Any]) -> dict[str, Any]:
    return {"serverContent": {"modelTurn": {"parts": list(parts)}}}


def sdk_events(message: dict[str, Any], vertex: bool = False) -> list[Any]:
    # read_with_sdk changes the dict it is given (the SDK drops unknown fields)
    return list(read_with_sdk(json.loads(json.dumps(message)), vertex=vertex))


def test_this_sdk_offers_what_the_fast_path_needs() -> None:
    assert _FROM_WIRE is not None  # else every message would take the slower public path


async def test_caller_audio_is_written_exactly_as_the_sdk_writes_it() -> None:
    """Byte for byte, through the SDK's own public method on a socket that keeps what is
    sent (every byte value, so both base64 alphabets' special characters occur)."""
    from bench.gemini_wire import LoopbackSocket

    pcm = bytes(range(256)) * 3
    socket = LoopbackSocket(b"{}")
    session = genai.live.AsyncSession(
        api_client=genai.Client(api_key="not-used")._api_client,
        websocket=socket,  # type: ignore[arg-type]
    )
    await session.send_realtime_input(audio=types.Blob(data=pcm, mime_type="audio/pcm;rate=16000"))
    assert audio_message(pcm) == socket.sent[0]


def test_plain_model_audio_is_read_here() -> None:
    message = model_turn(audio_part(b"\x10\x00" * 480), audio_part(b"\x20\x00" * 480))
    assert model_audio(message) == [b"\x10\x00" * 480, b"\x20\x00" * 480]
    assert [AgentAudio(p) for p in model_audio(message) or []] == sdk_events(message)
    with_role = {"serverContent": {"modelTurn": {"role": "model", "parts": [audio_part(b"ab")]}}}
    assert model_audio(with_role) == [b"ab"]


@pytest.mark.parametrize(
    "message",
    [
        {"serverContent": {"interrupted": True}},
        {"serverContent": {"turnComplete": True}},
        {"serverContent": {"modelTurn": {"parts": [audio_part(b"ab")]}, "turnComplete": True}},
        {"serverContent": {"outputTranscription": {"text": "hi"}}},
        model_turn({"text": "thinking"}),
        model_turn(audio_part(b"ab"), {"text": "and text"}),
        model_turn(audio_part(b"ab", mime="audio/wav")),
        model_turn({"inlineData": {"mimeType": "audio/pcm;rate=24000", "data": ""}}),
        model_turn({"inlineData": {"mimeType": "audio/pcm", "data": "-_-_"}}),  # URL-safe
        model_turn({"inlineData": {"mimeType": "audio/pcm", "data": "AAAA-AAAA"}}),  # a "-" alone
        model_turn({"inlineData": {"mimeType": "audio/pcm", "data": "AAAA_AAAA"}}),  # a "_" alone
        model_turn({"inlineData": {"mimeType": None, "data": "AAAA"}}),
        model_turn({"inlineData": {"mimeType": "audio/pcm", "data": 5}}),
        model_turn({"inlineData": {"mimeType": "audio/pcm", "data": "AAAA"}, "thought": True}),
        model_turn({"inlineData": {"mimeType": "audio/pcm", "data": "AAAA", "extra": 1}}),
        model_turn({"inlineData": "AAAA"}),
        model_turn("AAAA"),  # type: ignore[arg-type]
        model_turn(["AAAA"]),  # type: ignore[arg-type]
        model_turn(),
        {"serverContent": {"modelTurn": {"parts": [audio_part(b"ab")]}}, "usageMetadata": {}},
        {"usageMetadata": {"totalTokenCount": 12}},
        {"goAway": {"timeLeft": "10s"}},
        {"toolCall": {"functionCalls": [{"id": "1", "name": "f", "args": {}}]}},
        {"server_content": {"model_turn": {"parts": [audio_part(b"ab")]}}},  # snake_case
        {},
    ],
)
def test_everything_else_is_left_to_the_sdk(message: dict[str, Any]) -> None:
    assert model_audio(message) is None


@settings(max_examples=300, derandomize=True, deadline=None)
@given(
    chunks=st.lists(st.binary(min_size=0, max_size=64), min_size=0, max_size=3),
    extra=st.sampled_from(
        [None, ("turnComplete", True), ("interrupted", True), ("generationComplete", True)]
    ),
    mime=st.sampled_from(["audio/pcm;rate=24000", "audio/pcm", "audio/L16", "text/plain"]),
    vertex=st.booleans(),
)
def test_reading_here_or_through_the_sdk_gives_the_same_events(
    chunks: list[bytes], extra: tuple[str, bool] | None, mime: str, vertex: bool
) -> None:
    message: dict[str, Any] = {
        "serverContent": {"modelTurn": {"parts": [audio_part(c, mime) for c in chunks]}}
    }
    if extra is not None:
        message["serverContent"][extra[0]] = extra[1]
    # Whichever way the session reads a message (here, or through the SDK), the
    # events are the SDK's own.
    assert list(read_message(json.loads(json.dumps(message)), vertex=vertex)) == sdk_events(
        message, vertex
    )
    # And plain audio (nothing else in the message, every part PCM) is read here.
    plain = extra is None and bool(chunks) and all(chunks) and mime.startswith("audio/pcm")
    assert (model_audio(message) is not None) is plain


def test_an_error_report_ends_the_session_with_its_code() -> None:
    envelope = {"error": {"code": 400, "message": "bad input", "status": "INVALID_ARGUMENT"}}
    with pytest.raises(AgentSessionError) as raised:
        sdk_events(envelope)
    assert raised.value.reason == "Gemini reported an error (code 400 INVALID_ARGUMENT): bad input"
    assert (raised.value.code, raised.value.retryable) == (400, False)
    with pytest.raises(AgentSessionError) as raised:
        sdk_events({"error": {"code": 503, "status": "UNAVAILABLE"}})
    assert (raised.value.code, raised.value.retryable) == (503, True)


def test_what_the_sdk_cannot_read_is_skipped() -> None:
    unknown = f"google-genai {SDK_VERSION} does not know it"
    assert sdk_events({}) == []
    assert sdk_events({"code": 1011, "message": "x"}) == [Ignored(("code", "message"), unknown)]
    [skipped] = sdk_events({"serverContent": "not an object"})
    assert skipped.keys == ("serverContent",) and "ValidationError" in skipped.why
    assert sdk_events({"serverContent": None}) == [
        Ignored(("serverContent",), f"google-genai {SDK_VERSION} found nothing in it to read")
    ]


@pytest.mark.parametrize(
    ("message", "report"),
    [
        (
            {"error": {"code": 400, "message": "bad input", "status": "INVALID_ARGUMENT"}},
            ErrorReport(400, "INVALID_ARGUMENT", "bad input"),
        ),
        ({"error": {}}, ErrorReport(None, "", "")),
        ({"error": {"code": None, "status": None, "message": None}}, ErrorReport(None, "", "")),
        ({"error": {"code": "503", "status": 7}}, ErrorReport(None, "7", "")),
        ({"error": {"code": True}}, ErrorReport(None, "", "")),
        ({"error": {"code": 1011.0, "message": ["x"]}}, ErrorReport(None, "", "['x']")),
        ({"error": "broken"}, None),
        ({"error": None}, None),
        ({"code": 400, "message": "x"}, None),
        ({}, None),
    ],
)
def test_the_error_envelope_is_read_field_by_field(
    message: dict[str, Any], report: ErrorReport | None
) -> None:
    assert error_report(message) == report
