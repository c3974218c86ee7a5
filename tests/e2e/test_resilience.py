"""Calls survive the Gemini connection, end to end over real sockets.

The stand-in injects the faults (goAway at varied moments, abrupt closes, failing
setups). Every test checks that the call goes on (the last session's reply reaches
the caller), that the latest resumable handle was presented, that every caller
sample reached the service exactly once (the concatenation of what each session
received equals one-shot conversion of everything the caller sent, byte for byte),
and that no task of the call is left running.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import numpy as np
import pytest

from app.audio.convert import InboundConverter, pcm16_to_ulaw
from app.telephony.captures import CALL, build_capture
from app.telephony.emulator import TwilioEmulator
from app.telephony.media_stream import MediaStream
from tests.support.calls import call_tasks
from tests.support.gemini_standin import (
    GeminiStandIn,
    Scenario,
    StandInConnection,
    answer_every_text,
)
from tests.support.server import AUTH_TOKEN, PUBLIC_URL, serve_app, settings_for
from tests.support.signals import to_pcm16

REPLY_MS = 400
REPLY = to_pcm16(np.sin(np.arange(24 * REPLY_MS) * 2 * np.pi * 440 / 24000) * 8000)


def caller_ulaw(seconds: float, seed: int = 5) -> bytes:
    """Distinct, speech-level noise: any lost, doubled or reordered frame shows."""
    rng = np.random.default_rng(seed)
    return pcm16_to_ulaw(to_pcm16(rng.normal(0, 3000, int(8000 * seconds))))


def by_connection(*scenarios: Scenario) -> Scenario:
    """Connection i runs scenarios[i]; later ones run the last."""

    async def dispatch(conn: StandInConnection) -> None:
        await scenarios[min(conn.index, len(scenarios) - 1)](conn)

    return dispatch


async def reply_after(conn: StandInConnection, ms: float = 200) -> None:
    """A healthy session: once it has heard a little, it answers."""
    await conn.wait_audio_ms(ms)
    await conn.send_audio(REPLY)
    await conn.turn_complete()


async def until(predicate: Callable[[], bool], timeout: float = 20.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


@dataclass
class CallResult:
    stream: MediaStream
    connections: list[StandInConnection]
    ulaw: bytes
    elapsed_s: float

    def delivered(self) -> bytes:
        return b"".join(bytes(c.audio) for c in self.connections)

    def assert_exactly_once(self) -> None:
        expected = InboundConverter().convert(self.ulaw)
        delivered = self.delivered()
        assert len(delivered) == len(expected), (len(delivered), len(expected))
        assert delivered == expected


async def place_call(
    standin: GeminiStandIn,
    scenario: Scenario,
    ulaw: bytes,
    *,
    pace: float = 1.0,
    replies: int = 1,
    after: Callable[[MediaStream], Awaitable[None]] | None = None,
    **settings: object,
) -> CallResult:
    standin.scenario = scenario
    began = time.monotonic()
    async with serve_app(settings_for(standin, **settings)) as server:
        twilio = TwilioEmulator(server.base, PUBLIC_URL, AUTH_TOKEN)
        instruction = await twilio.incoming_call(CALL)
        stream = await twilio.open_stream(instruction)
        await stream.replay(build_capture(ulaw, stop=False), realtime=pace)
        total = 4 * len(ulaw)
        await until(lambda: sum(len(c.audio) for c in standin.connections) >= total)
        # the call goes on: replies reach the caller and are played
        await stream.wait_for(lambda: len(stream.heard) >= replies * REPLY_MS * 8, timeout=20)
        if after is not None:
            await after(stream)
        await stream.stop(CALL)
        await stream.wait_closed()
        await until(lambda: all(c.closed for c in standin.connections), timeout=5)
        assert not call_tasks()
        assert not server.calls.active
    return CallResult(stream, standin.connections, ulaw, time.monotonic() - began)


def go_away_after(ms: float, *, handle: str = "h1", time_left: str = "10s") -> Scenario:
    async def scenario(conn: StandInConnection) -> None:
        await conn.wait_audio_ms(ms)
        await conn.resumption(handle)
        await conn.go_away(time_left)

    return scenario


async def test_goaway_in_silence_moves_the_call(
    standin: GeminiStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    result = await place_call(
        standin, by_connection(go_away_after(300), reply_after), caller_ulaw(1.2)
    )
    first, second = result.connections
    assert (first.resume_handle, second.resume_handle) == (None, "h1")
    result.assert_exactly_once()
    assert "moved the call to a new session after goAway in" in caplog.text


async def test_goaway_while_the_caller_is_mid_sentence(standin: GeminiStandIn) -> None:
    # The caller is talking continuously (noise at speech level) when goAway comes.
    result = await place_call(
        standin, by_connection(go_away_after(500, handle="mid"), reply_after), caller_ulaw(1.5)
    )
    assert [c.resume_handle for c in result.connections] == [None, "mid"]
    assert result.connections[0].audio_ms >= 500 and result.connections[1].audio_ms > 0
    result.assert_exactly_once()


async def test_goaway_mid_reply_switches_after_the_turn_and_plays_nothing_twice(
    standin: GeminiStandIn,
) -> None:
    moments: dict[str, float] = {}

    async def speaking(conn: StandInConnection) -> None:
        await conn.wait_audio_ms(200)
        await conn.resumption("before-reply")
        await conn.send_audio(REPLY[: len(REPLY) // 2], realtime=1.0)
        await conn.resumption("mid-reply", resumable=False)
        await conn.go_away("20s")
        await conn.send_audio(REPLY[len(REPLY) // 2 :], realtime=1.0)
        await conn.resumption("after-reply")
        moments["turn_complete"] = time.monotonic()
        await conn.turn_complete()

    async def second(conn: StandInConnection) -> None:
        moments["second_opened"] = time.monotonic()
        await reply_after(conn, 100)

    result = await place_call(standin, by_connection(speaking, second), caller_ulaw(1.5), replies=2)
    assert [c.resume_handle for c in result.connections] == [None, "after-reply"]
    assert moments["second_opened"] > moments["turn_complete"]  # a clean point
    result.assert_exactly_once()
    # Both replies played once each (plus at most a filter tail per turn).
    assert 2 * REPLY_MS * 8 <= len(result.stream.media_received) <= 2 * (REPLY_MS * 8 + 20)


async def test_abrupt_close_mid_turn_reconnects_with_the_handle(
    standin: GeminiStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)

    async def dropping(conn: StandInConnection) -> None:
        await conn.wait_audio_ms(300)
        await conn.resumption("h-drop")
        await conn.send_audio(REPLY[: len(REPLY) // 2])
        await conn.close(1011, "internal error")

    result = await place_call(
        standin, by_connection(dropping, reply_after), caller_ulaw(1.2), replies=1
    )
    assert [c.resume_handle for c in result.connections] == [None, "h-drop"]
    result.assert_exactly_once()
    assert "cut short by the session loss" in caplog.text
    assert "reconnect succeeded on attempt 1" in caplog.text


async def test_close_during_setup_is_retried(standin: GeminiStandIn) -> None:
    standin.fail_setup = {0, 1}
    result = await place_call(standin, reply_after, caller_ulaw(1.0))
    assert len(result.connections) == 3
    assert [len(c.audio) for c in result.connections[:2]] == [0, 0]
    result.assert_exactly_once()


async def test_many_switches_and_drops_lose_and_double_nothing(
    standin: GeminiStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    """A shortened version of bench/long_call.py: 8 sessions, 5 goAways, 2 drops."""
    caplog.set_level(logging.INFO)
    plan = ["go_away", "drop", "go_away", "go_away", "drop", "go_away", "go_away", "stay"]

    async def scenario(conn: StandInConnection) -> None:
        kind = plan[min(conn.index, len(plan) - 1)]
        await conn.wait_audio_ms(600)
        await conn.resumption(f"h{conn.index}")
        await conn.send_audio(REPLY)
        await conn.turn_complete()
        if kind == "go_away":
            await conn.go_away("5s")
        elif kind == "drop":
            await conn.close(1011, "internal error")

    # Four times real time on purpose (to be short): the per-call audio limit is off.
    result = await place_call(
        standin, scenario, caller_ulaw(8.0), pace=4.0, replies=8, max_audio_rate_factor=0
    )
    assert len(result.connections) == 8
    assert [c.resume_handle for c in result.connections] == [None] + [f"h{i}" for i in range(7)]
    result.assert_exactly_once()
    assert len(result.stream.media_received) >= 8 * REPLY_MS * 8
    assert "5 goAway switches, 2 reconnects, 0 ms caller audio dropped" in caplog.text


async def test_time_limit_ends_with_a_goodbye_the_caller_hears(
    standin: GeminiStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)

    async def goodbye(conn: StandInConnection) -> None:
        text = await conn.wait_text(timeout=10)
        assert text == "Say goodbye now."
        await conn.send_audio(REPLY, realtime=2.0)
        await conn.turn_complete()

    standin.scenario = goodbye
    settings = settings_for(standin, max_call_seconds=0.5, goodbye_instruction="Say goodbye now.")
    async with serve_app(settings) as server:
        twilio = TwilioEmulator(server.base, PUBLIC_URL, AUTH_TOKEN)
        stream = await twilio.open_stream(await twilio.incoming_call(CALL))
        await stream.replay(build_capture(caller_ulaw(3.0), stop=False), realtime=1.0)
        await stream.wait_closed()
        # the server hung up only after the whole goodbye had been played
        assert len(stream.heard) == len(stream.media_received) >= REPLY_MS * 8
        assert stream.marks_echoed and len(stream.marks_echoed) == stream.marks_sent
        assert not call_tasks()
    assert "call time limit reached" in caplog.text
    assert standin.connections[0].texts == ["Say goodbye now."]  # no filler turns


async def test_idle_caller_is_prompted_then_told_goodbye(
    standin: GeminiStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)

    standin.scenario = answer_every_text(REPLY)
    settings = settings_for(
        standin,
        idle_timeout_seconds=0.4,
        idle_instruction="Still there?",
        goodbye_instruction="Bye.",
    )
    silence = b"\xff" * 8000 * 6
    async with serve_app(settings) as server:
        twilio = TwilioEmulator(server.base, PUBLIC_URL, AUTH_TOKEN)
        stream = await twilio.open_stream(await twilio.incoming_call(CALL))
        await stream.replay(build_capture(silence, stop=False), realtime=1.0)
        await stream.wait_closed()
        assert not call_tasks()
    assert standin.connections[0].texts == ["Still there?", "Bye."]
    assert "caller silent" in caplog.text


async def test_goaway_during_a_tool_call_waits_for_the_answer(standin: GeminiStandIn) -> None:
    moments: dict[str, float] = {}

    async def with_tool(conn: StandInConnection) -> None:
        await conn.wait_audio_ms(200)
        await conn.resumption("before-tool")
        await conn.tool_call("t1", "slow_lookup", {"topic": "hours", "seconds": 0.4})
        await conn.go_away("20s")
        answer = await conn.wait_tool_response("t1")
        moments["answered"] = time.monotonic()
        assert answer["response"] == {"result": "all about hours"}
        await conn.send_audio(REPLY)
        await conn.turn_complete()

    async def second(conn: StandInConnection) -> None:
        moments["second_opened"] = time.monotonic()
        await reply_after(conn, 100)

    result = await place_call(
        standin,
        by_connection(with_tool, second),
        caller_ulaw(2.0),
        replies=2,
        tool_modules="tests.support.sample_tools",
    )
    assert [c.resume_handle for c in result.connections] == [None, "before-tool"]
    assert moments["second_opened"] > moments["answered"]
    result.assert_exactly_once()
