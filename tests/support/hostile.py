"""Hypothesis strategies for hostile or garbled media-stream frames."""

from __future__ import annotations

import base64
import json
from typing import Any

from hypothesis import strategies as st

EVENTS = ["media", "start", "mark", "dtmf", "stop", "connected", "clear", "x", ""]
KEYS = ["event", "streamSid", "media", "start", "mark", "dtmf", "stop", "sequenceNumber"]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=6,
)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def media_like(stream_sid: str) -> st.SearchStrategy[dict[str, Any]]:
    payload = st.one_of(
        st.binary(max_size=240).map(_b64),  # valid base64, any length (odd ones too)
        st.text(max_size=40),  # mostly invalid base64
        json_values,
    )
    media = st.fixed_dictionaries(
        {"payload": payload},
        optional={
            "track": json_values | st.just("outbound"),
            "chunk": json_values,
            "timestamp": json_values,
            "extra": json_values,
        },
    )
    return st.fixed_dictionaries(
        {
            "event": st.just("media"),
            "streamSid": st.sampled_from([stream_sid, "MZ" + "0" * 32]) | json_values,
            "media": media | json_values,
        },
        optional={"sequenceNumber": json_values, "unexpected": json_values},
    )


def second_start(stream_sid: str) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "event": st.just("start"),
            "streamSid": st.sampled_from([stream_sid, "MZ" + "9" * 32]),
            "start": st.fixed_dictionaries(
                {
                    "callSid": st.text(max_size=6),
                    "mediaFormat": st.fixed_dictionaries(
                        {
                            "encoding": st.sampled_from(["audio/x-mulaw", "audio/x-l16"]),
                            "sampleRate": st.sampled_from([8000, 16000, "8000"]),
                            "channels": st.sampled_from([1, 2]),
                        }
                    )
                    | json_values,
                    "customParameters": json_values,
                }
            ),
        }
    )


def hostile_frames(stream_sid: str) -> st.SearchStrategy[str | bytes]:
    """Frames a confused or hostile peer might send after a valid `start`."""
    valid_media = st.binary(min_size=1, max_size=320).map(
        lambda payload: {
            "event": "media",
            "streamSid": stream_sid,
            "media": {"track": "inbound", "payload": _b64(payload)},
        }
    )
    unknown_event = st.fixed_dictionaries(
        {
            "event": st.sampled_from(["clear", "x", "", "Media", "stop "]) | st.text(max_size=6),
            "streamSid": st.just(stream_sid),
        }
    ).filter(lambda m: m["event"] not in {"media", "start", "mark", "dtmf", "stop", "connected"})
    objects = st.one_of(
        valid_media,
        unknown_event,  # well-formed audio mixed in: it must still be forwarded
        media_like(stream_sid),
        second_start(stream_sid),
        st.dictionaries(
            st.sampled_from(KEYS) | st.text(max_size=6),
            json_values | st.sampled_from(EVENTS),
            max_size=6,
        ),
        st.fixed_dictionaries(
            {
                "event": st.sampled_from(["mark", "dtmf", "stop"]),
                "streamSid": st.just(stream_sid) | json_values,
                "mark": json_values,
                "dtmf": json_values,
            }
        ),
    )
    return st.one_of(
        objects.map(json.dumps),
        st.text(max_size=120),  # not JSON, or JSON that is not an object
        st.binary(min_size=1, max_size=120),  # binary frames
        st.sampled_from(["null", "[]", '"media"', "{", "1e999", '{"event":"media"}' * 3]),
    )
