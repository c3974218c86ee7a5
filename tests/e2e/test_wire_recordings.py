"""The recorded wire data itself, replayed through the adapter, the SDK and the bridge.

Reads ``../shared/wire-recordings/`` beside the project (frames recorded from Google's
Live service and the SDK teams' fixtures, real Twilio messages; see its README). The
data is read there and never copied into the project: every expectation below is
computed from the recorded frames at run time. Skips when the folder is absent,
except with ``REQUIRE_WIRE_RECORDINGS=1`` (CI), where it fails.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from app.agent.events import (
    AgentAudio,
    AgentEvent,
    GenerationComplete,
    GoAway,
    Ignored,
    InteractionStatus,
    Interrupted,
    ResumptionHandle,
    ToolCall,
    Transcript,
    TurnComplete,
    Usage,
    VoiceActivity,
    WaitingForInput,
)
from app.agent.gemini.session import SDK_VERSION, SERVER_KEYS, GeminiConnector, read_message
from app.errors import AgentSessionError, ProtocolError
from app.settings import Settings
from app.telephony import wire
from tests.support.gemini_standin import GeminiStandIn, StandInConnection
from tests.support.server import settings_for
from tests.support.wire_calls import fixture_call, sdk_reading

ROOT = Path(__file__).resolve().parents[2]
RECORDINGS = ROOT.parent / "shared" / "wire-recordings"
GEMINI_FRAMES = RECORDINGS / "gemini_server_frames.jsonl"
TWILIO_MESSAGES = RECORDINGS / "twilio_messages.jsonl"
DEVELOPER_BACKEND, VERTEX_BACKEND = "Gemini Developer API (mldev)", "Vertex"
PLACEHOLDER = "X" * 16  # Twilio's documentation writes SIDs as MZXXXXXXXX…
STANDARD_BASE64 = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")


@pytest.fixture(scope="module")
def recordings() -> Path:
    if GEMINI_FRAMES.is_file() and TWILIO_MESSAGES.is_file():
        return RECORDINGS
    missing = f"the wire recordings are not in {RECORDINGS} (CI has shared/ beside the project)"
    if os.environ.get("REQUIRE_WIRE_RECORDINGS") == "1":
        pytest.fail(f"{missing}, and REQUIRE_WIRE_RECORDINGS=1 requires them")
    pytest.skip(f"{missing}; set REQUIRE_WIRE_RECORDINGS=1 to fail instead")


@dataclass(frozen=True)
class Frame:
    text: str
    recorded: bool  # from the service (else an SDK team's fixture)
    backend: str | None  # None: an SDK fixture, meant for either backend

    @property
    def message(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.text)
        return parsed

    def for_backend(self, vertex: bool) -> bool:
        return self.backend is None or (self.backend == VERTEX_BACKEND) == vertex


def gemini_frames(folder: Path) -> list[Frame]:
    frames = []
    for line in (folder / GEMINI_FRAMES.name).read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        frames.append(
            Frame(record["frame"], record["kind"].startswith("recorded"), record.get("backend"))
        )
    assert {f.backend for f in frames if f.recorded} == {DEVELOPER_BACKEND, VERTEX_BACKEND}
    return frames


def expected_events(message: dict[str, Any]) -> Iterator[AgentEvent]:
    """What each recorded field means to the bridge (protocol.md, notes.md), read from
    the JSON directly: an oracle independent of the SDK's types."""
    unknown = tuple(key for key in message if key not in SERVER_KEYS)
    if unknown:
        yield Ignored(unknown, f"google-genai {SDK_VERSION} does not know it")
    content = message.get("serverContent") or {}
    if content.get("interrupted"):
        yield Interrupted()
    if text := (content.get("inputTranscription") or {}).get("text"):
        yield Transcript("caller", text)
    for part in (content.get("modelTurn") or {}).get("parts", []):
        blob = part.get("inlineData") or {}
        if blob.get("data") and blob.get("mimeType", "").startswith("audio/pcm"):
            yield AgentAudio(base64.b64decode(blob["data"]))
    if text := (content.get("outputTranscription") or {}).get("text"):
        yield Transcript("agent", text)
    if content.get("generationComplete"):
        yield GenerationComplete()
    status = content.get("interactionStatus", "")
    if content.get("turnComplete"):
        reason = content.get("turnCompleteReason", "")
        yield TurnComplete(reason, bool(content.get("waitingForInput")), status)
    else:
        if content.get("waitingForInput"):
            yield WaitingForInput()
        if status:
            yield InteractionStatus(status == "IN_PROGRESS")
    activity = (message.get("voiceActivity") or {}).get("type")
    if activity in ("ACTIVITY_START", "ACTIVITY_END"):
        offset = (message.get("voiceActivity") or {}).get("audioOffset")
        seconds = float(offset.removesuffix("s")) if offset else None
        yield VoiceActivity(activity == "ACTIVITY_START", seconds)
    update = message.get("sessionResumptionUpdate") or {}
    if update.get("newHandle"):
        yield ResumptionHandle(update["newHandle"], update.get("resumable") in (True, "true"))
    for call in (message.get("toolCall") or {}).get("functionCalls", []):
        yield ToolCall(call.get("id", ""), call["name"], call.get("args", {}))
    if "goAway" in message:
        yield GoAway(float(message["goAway"]["timeLeft"].removesuffix("s")))
    if total := (message.get("usageMetadata") or {}).get("totalTokenCount"):
        yield Usage(int(total))


def read(frame: Frame, vertex: bool) -> list[AgentEvent]:
    return list(read_message(frame.message, vertex=vertex))


def same_events(got: list[AgentEvent], want: list[AgentEvent]) -> bool:
    """Equal as multisets (the adapter's order within one message is its own choice)."""
    rest = list(got)
    for event in want:
        if event not in rest:
            return False
        rest.remove(event)
    return not rest


@pytest.mark.parametrize("vertex", [False, True], ids=["developer", "vertex"])
async def test_every_recorded_gemini_frame_reads_as_recorded(
    recordings: Path, vertex: bool
) -> None:
    """Through the adapter's decoding, checked against what each field means and
    against the SDK's own public receive() on the same bytes."""
    audio_sizes: set[int] = set()
    for frame in gemini_frames(recordings):
        if not frame.for_backend(vertex):
            continue
        message = frame.message
        if "error" in message:
            with pytest.raises(AgentSessionError) as raised:
                read(frame, vertex)
            code = message["error"].get("code")
            assert (raised.value.code, raised.value.retryable) == (code, not 400 <= code < 500)
            continue
        ours = read(frame, vertex)
        assert same_events(ours, list(expected_events(message))), frame.text[:300]
        if frame.recorded:
            audio_sizes |= {len(e.pcm) for e in ours if isinstance(e, AgentAudio)}
        if set(message) & SERVER_KEYS:
            sdk = await sdk_reading(frame.text, vertex=vertex)
            assert [e for e in ours if not isinstance(e, Ignored)] == sdk, frame.text[:300]
    assert audio_sizes, "no recorded audio was read"


def backend_settings(standin: GeminiStandIn, vertex: bool) -> Settings:
    if vertex:  # express mode: the API key on the Vertex AI path
        return settings_for(standin, google_genai_use_vertexai=True, google_cloud_project=None)
    return settings_for(standin)


@pytest.mark.parametrize("vertex", [False, True], ids=["developer", "vertex"])
async def test_the_recorded_frames_come_through_a_live_session(
    recordings: Path, standin: GeminiStandIn, vertex: bool
) -> None:
    """Every frame for the backend, as binary frames over TLS to the real SDK session:
    the same events as read offline, on one connection, until an error envelope (the
    recordings hold one) or the close after the last frame ends it with its code."""
    frames = [f for f in gemini_frames(recordings) if f.for_backend(vertex)]
    setup = next(f for f in frames if f.recorded and "setupComplete" in f.message)
    errors = [f for f in frames if "error" in f.message]
    rest = [f for f in frames if f is not setup and f not in errors]
    code = errors[0].message["error"]["code"] if errors else 1011

    async def scenario(conn: StandInConnection) -> None:
        for frame in rest + errors[:1]:
            await conn.send_raw(frame.text)
        await conn.close(1011)

    standin.scenario = scenario
    standin.setup_complete = lambda conn: setup.text
    events: list[AgentEvent] = []
    async with GeminiConnector(backend_settings(standin, vertex)).connect() as session:
        assert session.fast_path
        with pytest.raises(AgentSessionError) as raised:
            async with asyncio.timeout(30):
                async for event in session.events():
                    events.append(event)
    assert events == [event for frame in rest for event in read(frame, vertex)]
    assert raised.value.code == code
    assert len(standin.connections) == 1 and standin.connections[0].vertex == vertex


@pytest.mark.parametrize("vertex", [False, True], ids=["developer", "vertex"])
async def test_the_recorded_frames_come_through_a_call(
    recordings: Path, standin: GeminiStandIn, vertex: bool
) -> None:
    """The recorded frames of the backend as the model's side of a call (uvicorn, the
    real SDK, the Twilio-like caller): every byte of recorded audio reaches the caller,
    each recorded tool call is answered (with its id, or by name without one), the
    transcript is the recorded deltas joined verbatim, and there is no reconnect."""
    recorded = [f for f in gemini_frames(recordings) if f.recorded and f.for_backend(vertex)]
    setup = next(f for f in recorded if "setupComplete" in f.message)
    texts = [setup.text] + [f.text for f in recorded if "setupComplete" not in f.message]
    # fixture_call checks that the caller heard every byte of the recorded audio
    summary, _, _ = await fixture_call(standin, backend_settings(standin, vertex), texts)

    assert summary.outcome.value == "completed", summary.reason
    assert (summary.link.reconnects, summary.link.switches, len(standin.connections)) == (0, 0, 1)
    calls = [c for t in texts for c in json.loads(t).get("toolCall", {}).get("functionCalls", [])]
    answers = standin.connections[0].tool_answers
    assert [(a.get("id"), a["name"]) for a in answers] == [(c.get("id"), c["name"]) for c in calls]
    assert all(a["response"]["error"]["type"] == "unknown_tool" for a in answers)
    said, turns = [], []
    for text in texts:
        content = json.loads(text).get("serverContent", {})
        said.append(content.get("outputTranscription", {}).get("text", ""))
        if content.get("turnComplete") and "".join(said).strip():
            turns.append("".join(said).strip())
            said = []
    assert [t.text for t in summary.turns if t.speaker == "agent"] == turns


def twilio_records(folder: Path) -> list[dict[str, Any]]:
    lines = (folder / TWILIO_MESSAGES.name).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def test_every_recorded_twilio_message_parses_as_meant(recordings: Path) -> None:
    """Every message Twilio sent, through the parser: the fields as recorded (string
    counters, a UUID streamSid, a missing customParameters, version 0.2.0, dtmf on
    inbound_track). What the sources abbreviated is refused: payloads cut short are not
    base64, and the documentation's placeholder SIDs (MZXXXX…) are no SIDs."""
    parsed = 0
    for record in twilio_records(recordings):
        if record["source"]["direction"] != "from_twilio":
            continue
        message = record["message"]
        event = message["event"]
        text = json.dumps(message)
        if event == "media":
            payload = message["media"]["payload"]
            if not STANDARD_BASE64.fullmatch(payload):
                with pytest.raises(ProtocolError, match="not valid base64"):
                    wire.parse(text)
                continue
            expected: object = wire.Media(
                message["streamSid"],
                message["media"]["track"],
                int(message["media"]["chunk"]),
                int(message["media"]["timestamp"]),
                base64.b64decode(payload),
            )
            assert len(base64.b64decode(payload)) == 160  # 20 ms of 8 kHz µ-law
        elif event == "start":
            start = message["start"]
            if PLACEHOLDER in message["streamSid"] + start["callSid"]:  # Twilio's docs
                with pytest.raises(ProtocolError, match=r"must be (MZ|CA) followed"):
                    wire.parse(text)
                continue
            expected = wire.Start(
                stream_sid=message["streamSid"],
                call_sid=start["callSid"],
                account_sid=start["accountSid"],
                tracks=tuple(start["tracks"]),
                encoding="audio/x-mulaw",
                sample_rate=8000,
                channels=1,
                custom_parameters=start.get("customParameters", {}),
            )
        elif event == "mark":
            expected = wire.Mark(message["streamSid"], message["mark"]["name"])
        elif event == "dtmf":
            expected = wire.Dtmf(message["streamSid"], message["dtmf"]["digit"])
        elif event == "stop":
            expected = wire.Stop(message["streamSid"], message["stop"]["callSid"])
        else:
            assert event == "connected", message
            expected = wire.Connected(message["protocol"], message["version"])
        assert wire.parse(text) == expected
        parsed += 1
    assert parsed


def _shape(value: Any) -> Any:
    """Keys and nesting of a message, with its values' JSON types."""
    if isinstance(value, dict):
        return {key: _shape(item) for key, item in value.items()}
    return type(value).__name__


def test_what_we_send_twilio_has_the_recorded_shape(recordings: Path) -> None:
    ours = {
        "media": wire.media_message("MZ" + "0" * 32, b"\xff" * 160),
        "mark": wire.mark_message("MZ" + "0" * 32, "t1-1"),
        "clear": wire.clear_message("MZ" + "0" * 32),
    }
    records = twilio_records(recordings)
    to_twilio = [r["message"] for r in records if r["source"]["direction"] == "to_twilio"]
    assert {m["event"] for m in to_twilio} == set(ours)
    for message in to_twilio:
        assert _shape(json.loads(ours[message["event"]])) == _shape(message)
