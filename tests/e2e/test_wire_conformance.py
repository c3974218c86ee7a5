"""Conformance with the real wire shapes, through the real adapter, SDK and bridge.

The frames are the project's own (tests/fixtures/wire/, made by make_wire_fixtures.py
from the facts in shared/protocol.md §4 and shared/wire-recordings/notes.md);
tests/e2e/test_wire_recordings.py replays the recordings themselves. Everything runs
over real sockets: uvicorn serving the app, the real google-genai client over TLS to
the stand-in, the Twilio-like client on the other side.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import logging
import ssl
from collections.abc import AsyncIterator, Callable
from typing import Any, cast

import pytest
from google.genai import _live_converters
from websockets.asyncio.client import ClientConnection, connect

import app.agent.link
from app.agent.events import AgentEvent, Ignored, Transcript
from app.agent.gemini import session as gemini
from app.agent.gemini.session import (
    _FROM_WIRE,
    SDK_VERSION,
    SERVER_KEYS,
    GeminiConnector,
    read_message,
)
from app.agent.gemini.wire import audio_message
from app.errors import AgentSessionError
from app.telephony import wire
from app.telephony.captures import capture_ulaw, load_capture
from app.telephony.emulator import TwilioEmulator
from tests.support import gemini_standin
from tests.support.gemini_standin import GeminiStandIn, StandInConnection, wire_text
from tests.support.server import AUTH_TOKEN, PUBLIC_URL, serve_app, settings_for
from tests.support.wire_calls import CALL, CALL_SID, WIRE, fixture_call, sdk_reading


def frames(name: str) -> list[str]:
    return [json.loads(line)["frame"] for line in (WIRE / name).read_text().splitlines()]


DEVELOPER = frames("gemini_developer.jsonl")
VERTEX = frames("gemini_vertex.jsonl")


def decoded(frame: str, *, vertex: bool) -> list[AgentEvent]:
    """The adapter's events for one frame, as GeminiSession.events() reads it."""
    return list(read_message(json.loads(frame), vertex=vertex))


# The SDK's private parts the adapter relies on


def test_the_sdk_reads_every_top_level_key_the_standin_sends() -> None:
    assert gemini_standin.SERVER_KEYS <= SERVER_KEYS, SDK_VERSION
    assert (
        _live_converters._LiveServerMessage_from_mldev,
        _live_converters._LiveServerMessage_from_vertex,
    ) == _FROM_WIRE, (
        f"google-genai {SDK_VERSION} moved the converters the adapter reads messages with"
    )
    for key in SERVER_KEYS:
        for convert in _FROM_WIRE:
            assert convert({key: {}}), f"google-genai {SDK_VERSION} no longer reads {key!r}"


async def test_a_real_session_uses_the_fast_path(standin: GeminiStandIn) -> None:
    """Fails if google-genai's AsyncSession._ws or _live_converters change: the adapter
    would fall back to the SDK's public methods (several times the CPU, and a new kind
    of message would end the session again)."""
    pcm = bytes(range(256)) * 4

    async def scenario(conn: StandInConnection) -> None:
        await conn.wait_audio_ms(len(pcm) / 32)
        await conn.send_raw(wire_text({"conformanceProbe": {"n": 1}}))  # receive() raises
        await conn.transcript("agent", "still here")

    standin.scenario = scenario
    connector = GeminiConnector(settings_for(standin))
    async with connector.connect() as session:
        assert session.fast_path, (
            f"google-genai {SDK_VERSION}: AsyncSession._ws or _live_converters changed;"
            " update app/agent/gemini/session.py (and the version bound in pyproject.toml)"
        )
        assert isinstance(session._session._ws, ClientConnection)
        await session.send_audio(pcm)
        events = session.events()
        first, second = await anext(events), await anext(events)
        await events.aclose()
    assert standin.connections[0].frames_received == [audio_message(pcm)]  # written by us
    assert first == Ignored(("conformanceProbe",), f"google-genai {SDK_VERSION} does not know it")
    assert second == Transcript("agent", "still here")
    assert len(standin.connections) == 1


class NoSocket:
    """An SDK session without the private socket (another SDK version), whose public
    receive() fails as 3.6.1's does on a message it does not know."""

    async def receive(self) -> AsyncIterator[Any]:
        raise TypeError("'<=' not supported between instances of 'int' and 'NoneType'")
        yield  # an async generator, as the SDK's


async def test_the_slow_path_is_announced_and_fails_cleanly(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gemini, "_slow_path_reported", False)
    with caplog.at_level(logging.WARNING, logger="app.agent.gemini.session"):
        session = gemini.GeminiSession(cast(Any, NoSocket()))
        gemini.GeminiSession(cast(Any, NoSocket()))
    assert not session.fast_path
    [line] = [r.getMessage() for r in caplog.records if "_ws" in r.getMessage()]
    assert "several times the CPU" in line
    # the SDK's TypeError comes out as the session's own error, never as itself
    with pytest.raises(AgentSessionError, match="TypeError") as raised:
        async for _ in session.events():
            pass
    assert raised.value.retryable


# The stand-in writes frames as the service does


async def _first_frames(standin: GeminiStandIn, path: str, count: int) -> list[str | bytes]:
    context = ssl.create_default_context(cafile=str(standin.ca_file))
    url = f"wss://127.0.0.1:{standin.port}{path}"
    headers = {"x-goog-api-key": standin.api_key}
    async with connect(url, ssl=context, additional_headers=headers) as ws:
        await ws.send(json.dumps({"setup": {"model": "models/m"}}))
        return [await ws.recv() for _ in range(count)]


async def test_the_standin_sends_pretty_printed_binary_frames(standin: GeminiStandIn) -> None:
    async def scenario(conn: StandInConnection) -> None:
        await conn.transcript("agent", "Grüß Gott")

    standin.scenario = scenario
    setup, transcript = await _first_frames(
        standin, gemini_standin.DEV_PATH.format(version="v1beta"), 2
    )
    assert setup == b'{\n  "setupComplete": {}\n}\n'
    assert (
        transcript
        == (
            '{\n  "serverContent": {\n    "outputTranscription": {\n'
            '      "text": "Grüß Gott"\n    }\n  }\n}\n'
        ).encode()
    )
    [vertex_setup] = await _first_frames(
        standin, gemini_standin.VERTEX_PATH.format(version="v1beta1"), 1
    )
    assert isinstance(vertex_setup, bytes)
    session_id = json.loads(vertex_setup)["setupComplete"]["sessionId"]
    assert vertex_setup == wire_text({"setupComplete": {"sessionId": session_id}}).encode()


async def test_the_standin_refuses_keys_the_sdk_does_not_know_unless_sent_raw() -> None:
    class Socket:
        def __init__(self) -> None:
            self.sent: list[str | bytes] = []

        async def send(self, data: str | bytes) -> None:
            self.sent.append(data)

    socket = Socket()
    conn = StandInConnection(cast(Any, socket), "/", {})
    with pytest.raises(AssertionError, match="does not understand"):
        await conn.send({"serverContent": {}, "brandNew": {}})
    with pytest.raises(AssertionError, match="does not understand"):
        await conn.send_frame(wire_text({"brandNew": {}}))
    await conn.send_raw('{"brandNew": {}}')
    await conn.send_raw("not json", binary=False)
    assert socket.sent == [b'{"brandNew": {}}', "not json"]
    assert [m for _, m in conn.sent] == [{"brandNew": {}}]


# The fixtures


def test_fixture_frames_are_written_as_the_service_writes_them() -> None:
    for text in DEVELOPER + VERTEX:
        assert text == wire_text(json.loads(text))


def _first_index(texts: list[str], predicate: Callable[[dict[str, Any]], bool]) -> int:
    return next(i for i, text in enumerate(texts) if predicate(json.loads(text)))


def test_the_fixtures_hold_the_recorded_shapes() -> None:
    """What the fixtures must keep reproducing (notes.md, protocol.md §4)."""
    dev = [json.loads(t) for t in DEVELOPER]
    ver = [json.loads(t) for t in VERTEX]

    def content(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [m["serverContent"] for m in messages if "serverContent" in m]

    def parts(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [p for c in content(messages) for p in c.get("modelTurn", {}).get("parts", [])]

    def audio_sizes(messages: list[dict[str, Any]]) -> set[int]:
        blobs = [p["inlineData"] for p in parts(messages) if "inlineData" in p]
        return {len(base64.b64decode(b["data"])) for b in blobs}

    assert dev[0] == {"setupComplete": {}} and set(ver[0]["setupComplete"]) == {"sessionId"}
    assert {p["inlineData"]["mimeType"] for p in parts(dev) if "inlineData" in p} == {
        "audio/pcm;rate=24000"
    }
    assert {p["inlineData"]["mimeType"] for p in parts(ver) if "inlineData" in p} == {"audio/pcm"}
    assert all(c["modelTurn"].get("role") == "model" for c in content(ver) if "modelTurn" in c)
    assert all("role" not in c["modelTurn"] for c in content(dev) if "modelTurn" in c)
    assert audio_sizes(dev) == audio_sizes(ver) == {9600, 11520}
    usage = [m["usageMetadata"] for m in dev + ver if "usageMetadata" in m]
    assert any("responseTokenCount" in u for u in usage)
    assert any("candidatesTokenCount" in u for u in usage)
    calls = [c for m in dev + ver if "toolCall" in m for c in m["toolCall"]["functionCalls"]]
    assert any("id" in c for c in calls) and sum("id" not in c for c in calls) == 2
    code = _first_index(DEVELOPER, lambda m: "executableCode" in json.dumps(m))
    assert code < _first_index(DEVELOPER, lambda m: "toolCall" in m)
    assert {"outputTranscription": {}} in content(ver)
    for messages in (dev, ver):
        heard = [
            c["inputTranscription"]["text"] for c in content(messages) if "inputTranscription" in c
        ]
        said = [
            c["outputTranscription"].get("text", "")
            for c in content(messages)
            if "outputTranscription" in c
        ]
        for deltas in (heard, said):
            assert any(t.startswith(" ") for t in deltas)  # a delta carries its own spacing
            pairs = itertools.pairwise(deltas)
            assert any(a[-1:].isalpha() and b[:1].isalpha() for a, b in pairs)  # mid-word
    assert any(p.get("text", "").endswith("\n") for p in parts(ver))
    for messages in (dev, ver):
        done = next(
            i for i, m in enumerate(messages) if "turnComplete" in m.get("serverContent", {})
        )
        assert messages[done - 1] == {"serverContent": {"generationComplete": True}}
        assert "usageMetadata" in messages[done]
    assert {"goAway": {"timeLeft": "50s"}} in dev
    assert any(m.get("sessionResumptionUpdate", {}).get("resumable") == "true" for m in dev)
    assert {"voiceActivity": {"type": "ACTIVITY_START", "audioOffset": "0.360s"}} in dev
    assert any("interimInputTranscription" in c for c in content(dev))
    assert {c.get("interactionStatus") for c in content(dev)} >= {"IN_PROGRESS", "IDLE"}
    assert any(c.get("turnCompleteReason") and c.get("waitingForInput") for c in content(dev))
    for messages in (dev, ver):
        assert any(not set(m) & SERVER_KEYS for m in messages)  # only unknown keys


@pytest.mark.parametrize("vertex", [False, True], ids=["developer", "vertex"])
async def test_the_adapter_reads_every_frame_as_the_sdks_public_receive_does(vertex: bool) -> None:
    """For each fixture frame the SDK can read, the adapter's events equal those of the
    SDK's own receive() on the same bytes; frames it cannot read are skipped."""
    for text in VERTEX if vertex else DEVELOPER:
        ours = decoded(text, vertex=vertex)
        if not set(json.loads(text)) & SERVER_KEYS:
            assert [type(e) for e in ours] == [Ignored]
            continue
        assert ours == await sdk_reading(text, vertex=vertex), text[:300]


# Parsing Twilio's shapes


def test_twilio_shapes_parse_as_twilio_means_them() -> None:
    shapes = [json.dumps(m) for m in load_capture(WIRE / "twilio_shapes.json")]
    events = [wire.parse(text) for text in shapes]
    assert events[0] == wire.Connected("Call", "1.0.0")
    uuid_start = events[1]
    assert isinstance(uuid_start, wire.Start)
    assert uuid_start.stream_sid == "1f0c6a52-8d3e-4b7a-9c21-5d40e8b2a6f3"
    assert uuid_start.custom_parameters == {"greeting": "a value set in TwiML"}
    first = events[2]
    assert isinstance(first, wire.Media)
    assert (first.chunk, first.timestamp_ms, len(first.payload)) == (1, 102, 160)
    assert set(first.payload) <= {0x7F, 0xFF}  # line silence: +0 and -0
    assert events[3:5] == [
        wire.Mark(uuid_start.stream_sid, "reply 0"),
        wire.Mark(uuid_start.stream_sid, "reply 1"),
    ]
    missing, encoded, empty = events[5:8]
    assert isinstance(missing, wire.Start) and missing.custom_parameters == {}
    assert isinstance(encoded, wire.Start)
    assert base64.b64decode(encoded.custom_parameters["sttData"]) == b'{"locale":"en-GB"}'
    assert isinstance(empty, wire.Start) and empty.custom_parameters == {}
    media = events[8:11]
    assert [(m.chunk, m.timestamp_ms, m.track) for m in media if isinstance(m, wire.Media)] == [
        (1, 155, "inbound"),
        (73, 1595, "inbound"),
        (1, 5, "outbound"),
    ]
    assert events[11] == wire.Dtmf("MZ" + "c4" * 16, "#")
    assert events[12:] == [
        wire.Stop(uuid_start.stream_sid, "CA" + "3b" * 16),
        wire.Stop("MZ" + "c4" * 16, "CA" + "3b" * 16),
    ]


def test_the_twilio_call_fixture_has_twilios_counters() -> None:
    media = [m for m in CALL if m["event"] == "media"]
    assert CALL[0] == {"event": "connected", "protocol": "Call", "version": "0.2.0"}
    assert [m["media"]["timestamp"] for m in media[:3]] == ["52", "72", "92"]
    assert all(isinstance(m["sequenceNumber"], str) for m in CALL[1:])
    sequence = [int(m["sequenceNumber"]) for m in CALL[1:]]
    assert sequence == list(range(1, len(CALL)))  # media and dtmf share one counter
    dtmf = next(m for m in CALL if m["event"] == "dtmf")
    assert dtmf["dtmf"] == {"track": "inbound_track", "digit": "1"}
    assert set(base64.b64decode(media[0]["media"]["payload"])) == {0x7F, 0xFF}
    for message in CALL:
        assert wire.parse(json.dumps(message)) is not None


# End to end over real sockets


def turns(summary: Any) -> list[tuple[str, str]]:
    return [(t.speaker, t.text) for t in summary.turns]


async def test_a_developer_api_session_of_every_shape(
    standin: GeminiStandIn, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(app.agent.link, "_ignored_kinds_logged", set())
    caplog.set_level(logging.INFO)
    settings = settings_for(standin, tool_modules="app.tools.examples")
    summary, stream, notes = await fixture_call(standin, settings, DEVELOPER)

    assert summary.outcome.value == "completed", summary.reason
    # transcription deltas joined verbatim (mid-word splits, their own spacing); the
    # interim guess is not part of it, nor is the executableCode part
    assert turns(summary) == [
        ("caller", "Hi, is the shop open on Saturday?"),
        ("agent", "Yes, we're open on Saturday from ten to four."),
        ("agent", "Anything else?"),
    ]
    assert (
        f"[call {CALL_SID} stream {stream.stream_sid}] caller said: 'Hi, is the shop" in caplog.text
    )
    first = standin.connections[0]
    assert first.tool_answers == [
        {
            "id": "function-call-9182736450123456789",
            "name": "opening_hours",
            "response": {
                "result": {"day": "saturday", "open": True, "opens": "10:00", "closes": "16:00"}
            },
        }
    ]
    # the key press reached the model once (on whichever session was current)
    texts = [text for conn in standin.connections for text in conn.texts]
    assert texts == ["The caller pressed 1 on their phone's keypad."]
    assert summary.stats.tokens == 908 + 951
    # the unknown frame was skipped, logged once with the call's ids; no reconnect; the
    # goAway moved the call once, presenting the handle that came with resumable "true"
    assert summary.link.ignored_messages == 1
    [skipped] = [r.getMessage() for r in caplog.records if "'serverTelemetry'" in r.getMessage()]
    assert skipped.startswith(f"[call {CALL_SID} stream {stream.stream_sid}] skipped a Gemini")
    assert notes["connections_before_go_away"] == 1
    assert (summary.link.reconnects, summary.link.switches) == (0, 1)
    assert [c.resume_handle for c in standin.connections] == [None, "dev-handle-2"]
    assert "Gemini closed the session" not in caplog.text


async def test_a_vertex_session_of_every_shape(
    standin: GeminiStandIn, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(app.agent.link, "_ignored_kinds_logged", set())
    caplog.set_level(logging.INFO)
    settings = settings_for(
        standin,
        google_genai_use_vertexai=True,
        google_cloud_project=None,  # express mode: the API key, on the Vertex AI path
        tool_modules="app.tools.examples",
    )
    summary, _, _ = await fixture_call(standin, settings, VERTEX)

    assert summary.outcome.value == "completed", summary.reason
    assert standin.connections[0].vertex
    assert turns(summary) == [
        ("caller", "Where is my order A1001, and are you open on Sunday?"),
        ("agent", "Your order shipped on Monday and arrives on Thursday. We're closed on Sundays."),
    ]
    # two concurrent calls without an id: each answered once, by name, with no id
    answers = sorted(standin.connections[0].tool_answers, key=lambda a: str(a["name"]))
    assert answers == [
        {"name": "opening_hours", "response": {"result": {"day": "sunday", "open": False}}},
        {
            "name": "order_status",
            "response": {"result": "shipped on Monday; arriving Thursday"},
            "scheduling": "WHEN_IDLE",
        },
    ]
    assert summary.stats.tokens == 796
    assert summary.link.ignored_messages == 1
    [skipped] = [r.getMessage() for r in caplog.records if "'sessionDiagnostics'" in r.getMessage()]
    assert "'sessionDiagnostics', 'serverTiming'" in skipped and CALL_SID in skipped
    assert len(standin.connections) == 1
    assert (summary.link.reconnects, summary.link.switches) == (0, 0)


async def test_an_error_envelope_ends_the_session_with_its_code(standin: GeminiStandIn) -> None:
    envelope = {"error": {"code": 400, "message": "bad frame", "status": "INVALID_ARGUMENT"}}

    async def scenario(conn: StandInConnection) -> None:
        await conn.send_raw(wire_text(envelope))

    standin.scenario = scenario
    async with GeminiConnector(settings_for(standin)).connect() as session:
        with pytest.raises(AgentSessionError) as raised:
            async for _ in session.events():
                pass
    assert (raised.value.code, raised.value.retryable) == (400, False)
    assert raised.value.reason == "Gemini reported an error (code 400 INVALID_ARGUMENT): bad frame"


async def test_a_server_error_envelope_resumes_the_call_on_a_new_session(
    standin: GeminiStandIn,
) -> None:
    async def first(conn: StandInConnection) -> None:
        await conn.wait_audio_ms(200, timeout=15)
        await conn.resumption("before-the-error")
        await conn.send_raw(wire_text({"error": {"code": 503, "status": "UNAVAILABLE"}}))

    async def second(conn: StandInConnection) -> None:
        await conn.wait_audio_ms(200, timeout=15)

    standin.scenario = lambda conn: (first if conn.index == 0 else second)(conn)
    async with serve_app(settings_for(standin)) as server:
        twilio = TwilioEmulator(server.base, PUBLIC_URL, AUTH_TOKEN)
        stream = await twilio.open_stream(await twilio.incoming_call(CALL_SID))
        await stream.replay(CALL, realtime=4.0, stop=False)
        caller_bytes = 4 * len(capture_ulaw(CALL))  # 16 kHz 16-bit at the model
        async with asyncio.timeout(15):  # every caller sample reaches a session once
            while sum(c.audio_bytes for c in standin.connections) < caller_bytes:
                await asyncio.sleep(0.02)
        await stream.replay(CALL[-1:])
        await stream.wait_closed()
        summary = await server.call_ended()
    assert summary.outcome.value == "completed"
    assert summary.link.reconnects == 1
    assert [c.resume_handle for c in standin.connections] == [None, "before-the-error"]
    assert sum(len(c.audio) for c in standin.connections) == caller_bytes
