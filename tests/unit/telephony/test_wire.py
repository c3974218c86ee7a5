"""The Twilio wire format: parsing is total (an event or one ProtocolError)."""

from __future__ import annotations

import base64
import contextlib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.errors import ProtocolError
from app.telephony import wire
from app.telephony.captures import load_capture
from tests.conftest import FIXTURES
from tests.support.hostile import json_values

SID = "MZ" + "1" * 32


def test_every_frame_of_a_capture_parses() -> None:
    frames = load_capture(FIXTURES / "caller_question.json")
    events = [wire.parse(json.dumps(f)) for f in frames]
    assert isinstance(events[0], wire.Connected)
    start = events[1]
    assert isinstance(start, wire.Start)
    assert start.call_sid.startswith("CA") and start.custom_parameters["from"] == "+15550100001"
    media = [e for e in events if isinstance(e, wire.Media)]
    assert all(len(m.payload) == 160 for m in media)
    assert [m.chunk for m in media] == list(range(1, len(media) + 1))
    assert [m.timestamp_ms for m in media][:3] == [0, 20, 40]
    assert isinstance(events[-1], wire.Stop)


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        ("not json", "not valid JSON"),
        ("[1, 2]", "not a JSON object"),
        (b'{"event": "media"}', "binary frame"),
        ('{"event": 5}', "'event' must be a string"),
        ('{"event": "media", "streamSid": "MZ", "media": {"payload": "@@@"}}', "base64"),
        ('{"event": "media", "streamSid": "MZ"}', "'media' must be an object"),
        ('{"event": "media", "streamSid": 7, "media": {"payload": ""}}', "'streamSid'"),
        ('{"event": "mark", "streamSid": "MZ", "mark": {}}', "'name'"),
        (
            '{"event": "media", "streamSid": "MZ", "media": {"payload": "", "chunk": "x"}}',
            "'chunk'",
        ),
        (
            '{"event": "start", "streamSid": "MZ", "start": {"callSid": "CA", "mediaFormat":'
            ' {"encoding": "audio/x-l16", "sampleRate": 16000, "channels": 1}}}',
            "unsupported media format",
        ),
    ],
)
def test_malformed_frames_raise_one_error_with_a_reason(frame: str | bytes, reason: str) -> None:
    with pytest.raises(ProtocolError) as error:
        wire.parse(frame)
    assert reason in error.value.reason


def test_oversized_payload_is_refused() -> None:
    payload = base64.b64encode(bytes(wire.MAX_PAYLOAD_BYTES + 3)).decode()
    frame = json.dumps({"event": "media", "streamSid": SID, "media": {"payload": payload}})
    with pytest.raises(ProtocolError, match="too large"):
        wire.parse(frame)


def test_unknown_events_are_ignored() -> None:
    assert wire.parse('{"event": "something-new", "streamSid": "MZ"}') is None


def test_outgoing_messages_have_exactly_twilios_shape() -> None:
    media = json.loads(wire.media_message(SID, b"\xff\x7f"))
    assert media == {"event": "media", "streamSid": SID, "media": {"payload": "/38="}}
    assert json.loads(wire.mark_message(SID, "g0-t1-1")) == {
        "event": "mark",
        "streamSid": SID,
        "mark": {"name": "g0-t1-1"},
    }
    assert json.loads(wire.clear_message(SID)) == {"event": "clear", "streamSid": SID}


event_names = st.sampled_from(["media", "start", "mark", "dtmf", "stop", "connected", "x"])


@settings(max_examples=500)
@given(
    st.dictionaries(
        st.sampled_from(["event", "streamSid", "media", "start", "mark", "dtmf", "stop"]),
        json_values | event_names,
        max_size=6,
    )
)
def test_parse_never_raises_anything_but_protocol_error(message: dict[str, object]) -> None:
    with contextlib.suppress(ProtocolError):
        wire.parse(json.dumps(message))


@settings(max_examples=300)
@given(st.binary(max_size=64) | st.text(max_size=64))
def test_parse_survives_garbage(frame: bytes | str) -> None:
    with contextlib.suppress(ProtocolError):
        wire.parse(frame)


# -- each event, field by field

CALL = "CA" + "2" * 32
ACCOUNT = "AC" + "3" * 32
FORMAT = {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}


def start_frame(top: dict[str, object] | None = None, **start: object) -> str:
    body: dict[str, object] = {"callSid": CALL, "mediaFormat": FORMAT} | start
    return json.dumps({"event": "start", "streamSid": SID, "start": body} | (top or {}))


def media_frame(**media: object) -> str:
    return json.dumps({"event": "media", "streamSid": SID, "media": {"payload": ""} | media})


def refused(frame: str | bytes) -> str:
    with pytest.raises(ProtocolError) as error:
        wire.parse(frame)
    return error.value.reason


def test_a_full_start() -> None:
    frame = start_frame(
        accountSid=ACCOUNT,
        tracks=["inbound", "outbound"],
        customParameters={"from": "+15550100001", "n": 5},
        mediaFormat={"encoding": "audio/x-mulaw", "sampleRate": "8000", "channels": "1"},
    )
    assert wire.parse(frame) == wire.Start(
        stream_sid=SID,
        call_sid=CALL,
        account_sid=ACCOUNT,
        tracks=("inbound", "outbound"),
        encoding="audio/x-mulaw",
        sample_rate=8000,
        channels=1,
        custom_parameters={"from": "+15550100001", "n": "5"},
    )


@pytest.mark.parametrize("params", [None, {}, []])
def test_a_start_with_only_what_is_required(params: object) -> None:
    frame = start_frame() if params is None else start_frame(customParameters=params)
    assert wire.parse(frame) == wire.Start(
        stream_sid=SID,
        call_sid=CALL,
        account_sid="",
        tracks=("inbound",),
        encoding="audio/x-mulaw",
        sample_rate=8000,
        channels=1,
        custom_parameters={},
    )


def test_an_empty_stream_sid_is_looked_for_inside_start() -> None:
    softphone, uuid = "SP" + "a" * 32, "3f2b8c1e-9a4d-4e6f-8b7a-0c1d2e3f4a5b"
    event = wire.parse(start_frame({"streamSid": ""}, streamSid=uuid, callSid=softphone))
    assert isinstance(event, wire.Start)
    assert (event.stream_sid, event.call_sid) == (uuid, softphone)
    event = wire.parse(start_frame(streamSid="MZ" + "9" * 32))  # the outer one wins
    assert isinstance(event, wire.Start) and event.stream_sid == SID
    assert refused(start_frame({"streamSid": ""})) == "'streamSid' must be a string"


@pytest.mark.parametrize(
    ("top", "start", "reason"),
    [
        ({"start": 1}, {}, "'start' must be an object"),
        ({}, {"mediaFormat": None}, "'mediaFormat' must be an object"),
        ({}, {"tracks": "inbound"}, "'tracks' must be a list of strings"),
        ({}, {"tracks": ["inbound", 1]}, "'tracks' must be a list of strings"),
        ({}, {"customParameters": [1]}, "'customParameters' must be an object"),
        ({}, {"customParameters": "x"}, "'customParameters' must be an object"),
        ({"streamSid": 5}, {}, "'streamSid' must be a string"),
        ({"streamSid": "MZ"}, {}, "'streamSid' must be MZ followed by 32 hex digits"),
        ({"streamSid": None}, {}, "'streamSid' must be a string"),
        ({}, {"callSid": "CA1"}, "'callSid' must be CA followed by 32 hex digits"),
        ({}, {"callSid": None}, "'callSid' must be a string"),
        ({}, {"accountSid": 7}, "'accountSid' must be a string"),
    ],
)
def test_a_bad_start_is_refused_with_its_reason(
    top: dict[str, object], start: dict[str, object], reason: str
) -> None:
    assert refused(start_frame(top, **start)) == reason


@pytest.mark.parametrize(
    ("fmt", "reason"),
    [
        ({"encoding": "audio/x-l16"}, "unsupported media format audio/x-l16 8000 Hz x1"),
        ({"sampleRate": 16000}, "unsupported media format audio/x-mulaw 16000 Hz x1"),
        ({"channels": "2"}, "unsupported media format audio/x-mulaw 8000 Hz x2"),
        ({"encoding": 1}, "'encoding' must be a string"),
        ({"sampleRate": True}, "'sampleRate' must be a number"),
        ({"sampleRate": 8000.0}, "'sampleRate' must be a number"),
        ({"sampleRate": None}, "'sampleRate' must be a number"),
        ({"channels": "one"}, "'channels' must be a number"),
    ],
)
def test_only_mulaw_at_8khz_mono_is_taken(fmt: dict[str, object], reason: str) -> None:
    assert refused(start_frame(mediaFormat=FORMAT | fmt)) == reason


def test_a_full_media() -> None:
    frame = media_frame(payload="/38=", track="outbound", chunk="7", timestamp=140)
    assert wire.parse(frame) == wire.Media(
        stream_sid=SID, track="outbound", chunk=7, timestamp_ms=140, payload=b"\xff\x7f"
    )


@pytest.mark.parametrize("track", [{}, {"track": None}, {"track": ""}])
def test_a_media_without_track_chunk_or_timestamp(track: dict[str, object]) -> None:
    assert wire.parse(media_frame(**track)) == wire.Media(
        stream_sid=SID, track="inbound", chunk=0, timestamp_ms=0, payload=b""
    )


@pytest.mark.parametrize(
    ("media", "reason"),
    [
        ({"payload": None}, "'payload' must be a string"),
        ({"payload": "@@@@"}, "media payload is not valid base64"),
        ({"payload": "/38"}, "media payload is not valid base64"),
        ({"payload": "é"}, "media payload is not valid base64"),
        ({"track": 1}, "'track' must be a string"),
        ({"chunk": "x"}, "'chunk' must be a number"),
        ({"chunk": None}, "'chunk' must be a number"),
        ({"timestamp": "1.5"}, "'timestamp' must be a number"),
        ({"timestamp": False}, "'timestamp' must be a number"),
    ],
)
def test_a_bad_media_is_refused_with_its_reason(media: dict[str, object], reason: str) -> None:
    assert refused(media_frame(**media)) == reason


def test_a_media_needs_its_stream_sid() -> None:
    frame = json.dumps({"event": "media", "media": {"payload": ""}})
    assert refused(frame) == "'streamSid' must be a string"


def test_the_payload_limit_is_on_the_base64_text() -> None:
    limit = wire.MAX_PAYLOAD_BYTES * 4 // 3 + 4
    assert limit == 2137  # 1600 bytes: 200 ms of audio, ten of the 20 ms Twilio sends
    # at the limit it is decoded (and this length is not valid base64), one more is not
    assert refused(media_frame(payload="A" * limit)) == "media payload is not valid base64"
    assert refused(media_frame(payload="A" * (limit + 1))) == "media payload too large"
    largest = base64.b64encode(bytes(wire.MAX_PAYLOAD_BYTES)).decode()
    event = wire.parse(media_frame(payload=largest))
    assert isinstance(event, wire.Media) and len(event.payload) == wire.MAX_PAYLOAD_BYTES


@pytest.mark.parametrize(
    ("message", "event"),
    [
        ({"event": "mark", "streamSid": SID, "mark": {"name": "g1"}}, wire.Mark(SID, "g1")),
        ({"event": "dtmf", "streamSid": SID, "dtmf": {"digit": "#"}}, wire.Dtmf(SID, "#")),
        ({"event": "stop", "streamSid": SID, "stop": {"callSid": CALL}}, wire.Stop(SID, CALL)),
        ({"event": "stop", "streamSid": SID, "stop": {}}, wire.Stop(SID, "")),
        ({"event": "stop", "streamSid": SID, "stop": {"callSid": None}}, wire.Stop(SID, "")),
        ({"event": "stop", "streamSid": SID}, wire.Stop(SID, "")),
        ({"event": "stop", "streamSid": SID, "stop": "x"}, wire.Stop(SID, "")),
        (
            {"event": "connected", "protocol": "Call", "version": "1.0.0"},
            wire.Connected("Call", "1.0.0"),
        ),
        ({"event": "connected"}, wire.Connected("", "")),
        ({"event": "something-new"}, None),
        ({"event": ""}, None),
    ],
)
def test_each_event_parses_to_exactly_its_fields(
    message: dict[str, object], event: wire.TwilioEvent | None
) -> None:
    assert wire.parse(json.dumps(message)) == event


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        (b"{}", "binary frame (Twilio sends text frames)"),
        ("not json", "frame is not valid JSON"),
        ("[1, 2]", "frame is not a JSON object"),
        ("{}", "'event' must be a string"),
        ('{"event": null}', "'event' must be a string"),
        ('{"event": ["media"]}', "'event' must be a string"),
        ('{"event": "mark", "streamSid": "MZ"}', "'mark' must be an object"),
        ('{"event": "mark", "mark": {"name": "a"}}', "'streamSid' must be a string"),
        ('{"event": "dtmf", "streamSid": "MZ", "dtmf": []}', "'dtmf' must be an object"),
        ('{"event": "dtmf", "streamSid": "MZ", "dtmf": {"digit": 1}}', "'digit' must be a string"),
        ('{"event": "dtmf", "dtmf": {"digit": "1"}}', "'streamSid' must be a string"),
        ('{"event": "stop", "stop": {}}', "'streamSid' must be a string"),
        (
            '{"event": "stop", "streamSid": "MZ", "stop": {"callSid": 5}}',
            "'callSid' must be a string",
        ),
        ('{"event": "connected", "protocol": 1}', "'protocol' must be a string"),
        ('{"event": "connected", "version": 1}', "'version' must be a string"),
    ],
)
def test_each_refusal_says_exactly_why(frame: str | bytes, reason: str) -> None:
    assert refused(frame) == reason


def test_the_softphone_messages_have_exactly_their_shape() -> None:
    assert wire.transcript_message(SID, "agent", "Hello") == (
        '{"event": "transcript", "streamSid": "' + SID + '", '
        '"transcript": {"speaker": "agent", "text": "Hello"}}'
    )
    assert wire.turn_complete_message(SID) == (
        '{"event": "turnComplete", "streamSid": "' + SID + '"}'
    )


def test_a_media_message_is_exactly_twilios_text() -> None:
    assert wire.media_message(SID, b"\xff\x7f") == (
        '{"event": "media", "streamSid": "' + SID + '", "media": {"payload": "/38="}}'
    )
    assert wire.media_message(SID, b"") == (
        '{"event": "media", "streamSid": "' + SID + '", "media": {"payload": ""}}'
    )


@given(st.binary(max_size=400))
def test_a_media_message_parses_back_to_its_audio(ulaw: bytes) -> None:
    event = wire.parse(wire.media_message(SID, ulaw))
    assert event == wire.Media(
        stream_sid=SID, track="inbound", chunk=0, timestamp_ms=0, payload=ulaw
    )


@given(st.integers(min_value=-(10**12), max_value=10**12), st.booleans())
def test_a_counter_is_taken_as_a_number_or_as_its_digits(value: int, as_text: bool) -> None:
    sent: object = str(value) if as_text else value
    event = wire.parse(media_frame(chunk=sent, timestamp=sent))
    assert isinstance(event, wire.Media)
    assert (event.chunk, event.timestamp_ms) == (value, value)
