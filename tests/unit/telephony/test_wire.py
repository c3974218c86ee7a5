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
