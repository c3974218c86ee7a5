"""Conformance with the real wire shapes, through the real adapter, SDK and stand-in.

Everything runs over real sockets: the real google-genai client over TLS to the
Gemini stand-in, whose frames must look like the recorded service's.
"""

from __future__ import annotations

import json
import logging
import ssl
from typing import Any, cast

import pytest
from google.genai import _live_converters
from websockets.asyncio.client import ClientConnection, connect

from app.events import (
    Ignored,
    Transcript,
)
from app.gemini import (
    _FROM_WIRE,
    SDK_VERSION,
    SERVER_KEYS,
    GeminiConnector,
)
from app.gemini_wire import audio_message
from tests.support import gemini_standin
from tests.support.gemini_standin import GeminiStandIn, StandInConnection, wire_text
from tests.support.server import settings_for

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
            " update app/gemini.py (and the version bound in pyproject.toml)"
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


def test_the_slow_path_is_announced(caplog: pytest.LogCaptureFixture) -> None:
    from app import gemini

    class NoSocket:
        """An SDK session without the private socket (another SDK version)."""

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(gemini, "_slow_path_reported", False)
        with caplog.at_level(logging.WARNING, logger="app.gemini"):
            session = gemini.GeminiSession(cast(Any, NoSocket()))
            gemini.GeminiSession(cast(Any, NoSocket()))
    assert not session.fast_path
    [line] = [r.getMessage() for r in caplog.records if "_ws" in r.getMessage()]
    assert "several times the CPU" in line


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
