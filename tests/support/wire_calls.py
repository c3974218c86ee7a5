"""Calls whose model side is a sequence of recorded-shape frames (tests/fixtures/wire/
or shared/wire-recordings/), over real sockets: the Twilio emulator as the caller, uvicorn serving
the app, the real google-genai client over TLS to the Gemini stand-in."""

from __future__ import annotations

import base64
import json
from typing import Any

from google import genai

from app.agent.events import AgentEvent
from app.agent.gemini.session import translate
from app.audio.convert import OutboundConverter
from app.settings import Settings
from app.telephony.captures import load_capture
from app.telephony.emulator import TwilioEmulator
from app.telephony.media_stream import MediaStream
from bench.gemini_wire import LoopbackSocket
from tests.conftest import FIXTURES
from tests.support import gemini_standin
from tests.support.gemini_standin import GeminiStandIn, StandInConnection
from tests.support.server import AUTH_TOKEN, PUBLIC_URL, serve_app

WIRE = FIXTURES / "wire"
CALL = load_capture(WIRE / "twilio_call.json")
CALL_SID = CALL[1]["start"]["callSid"]
SPOKEN_MS = 1800  # the caller's speech is over by then (silence, 1.5 s of speech, silence)


async def sdk_reading(text: str, *, vertex: bool) -> list[AgentEvent]:
    """The events of one frame as the SDK's public ``receive()`` gives it, translated."""
    client = genai.Client(vertexai=True, api_key="k") if vertex else genai.Client(api_key="k")
    session = genai.live.AsyncSession(
        api_client=client._api_client,
        websocket=LoopbackSocket(text.encode()),  # type: ignore[arg-type]
    )
    return list(translate(await anext(session.receive())))


def agent_ulaw(texts: list[str]) -> bytes:
    """What the caller must hear: each turn's audio parts through the bridge's converter,
    flushed where a turn that had audio ends (turnComplete)."""
    heard, converter, speaking = b"", OutboundConverter(), False
    for text in texts:
        content = json.loads(text).get("serverContent", {})
        for part in content.get("modelTurn", {}).get("parts", []):
            if "inlineData" in part:
                heard += converter.convert(base64.b64decode(part["inlineData"]["data"]))
                speaking = True
        if content.get("turnComplete") and speaking:
            heard += converter.flush()
            speaking = False
    return heard


async def play(
    conn: StandInConnection, texts: list[str], standin: GeminiStandIn, notes: dict[str, Any]
) -> None:
    """The stand-in's side of a fixture: after the caller spoke, every frame in order;
    after a toolCall, wait for its answers; note how many connections there were
    before goAway."""
    await conn.wait_audio_ms(SPOKEN_MS, timeout=15)
    for text in texts[1:]:  # texts[0] is the setupComplete, sent on connecting
        message = json.loads(text)
        if "goAway" in message:
            notes["connections_before_go_away"] = len(standin.connections)
        if set(message) <= gemini_standin.SERVER_KEYS:
            await conn.send_frame(text)
        else:
            await conn.send_raw(text)
        if "toolCall" in message:
            await conn.wait_tool_answers(len(message["toolCall"]["functionCalls"]))
    notes["all_sent"] = True


async def fixture_call(
    standin: GeminiStandIn, settings: Settings, texts: list[str]
) -> tuple[Any, MediaStream, dict[str, Any]]:
    """One call: the Twilio fixture from the caller's side, the Gemini fixture from the
    model's; ends when the caller heard every byte of the agent's audio."""
    notes: dict[str, Any] = {}

    async def scenario(conn: StandInConnection) -> None:
        if conn.index == 0:
            await play(conn, texts, standin, notes)

    standin.scenario = scenario
    standin.setup_complete = lambda conn: texts[0]
    expected = agent_ulaw(texts)
    async with serve_app(settings) as server:
        twilio = TwilioEmulator(server.base, PUBLIC_URL, AUTH_TOKEN)
        stream = await twilio.open_stream(await twilio.incoming_call(CALL_SID))
        await stream.replay(CALL, realtime=4.0, stop=False)
        await stream.wait_for(lambda: len(stream.heard) >= len(expected), timeout=20)
        await stream.wait_for(lambda: len(stream.marks_echoed) == stream.marks_sent, timeout=5)
        await stream.wait_for(lambda: notes.get("all_sent", False), timeout=5)
        await stream.replay(CALL[-1:])  # Twilio's stop
        await stream.wait_closed()
        summary = await server.call_ended()
    assert bytes(stream.media_received) == expected  # every byte, in order, once
    return summary, stream, notes
