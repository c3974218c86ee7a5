"""Calls that stall, over real sockets: the Twilio emulator asks the recorded question,
uvicorn serves the app, the real google-genai client talks TLS to the Gemini stand-in,
which stalls the way field reports describe and answers once recovery reaches it.

Shared by tests/e2e/test_dead_air.py (what happens) and bench/dead_air.py (how long it
takes): each :data:`PATHS` entry is a stand-in model, and :func:`stalled_call` runs one
call against it and notes when the caller stopped speaking and when recovered audio
reached the caller.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from app.audio.convert import is_speech, ulaw_to_pcm16
from app.call.record import CallSummary
from app.sinks.records import CallRecords
from app.telephony.captures import capture_ulaw
from app.telephony.media_stream import MediaStream
from tests.support.calls import CALL_SID, QUESTION, REPLY, start_call
from tests.support.gemini_standin import GeminiStandIn, Scenario, StandInConnection
from tests.support.server import serve_app, settings_for

BOUND_S = 1.0  # DEAD_AIR_SECONDS in these calls: the smallest the settings allow
NUDGE = "The caller is waiting: answer them now, briefly."
CALLER_WORDS = "What time does the store open tomorrow?"
AGENT_WORDS = "The store opens at nine."
ANSWER = REPLY[: 2 * 24000]  # one second of the recorded reply, 24 kHz PCM16
ANSWER_ULAW_BYTES = len(ANSWER) // 6  # as the caller gets it: 8 kHz µ-law
CALLER_MS = len(capture_ulaw(QUESTION)) / 8


def _last_speech_s() -> float:
    """When the question's last speech frame has been sent, from the replay's start."""
    frames = [f for f in QUESTION if f.get("event") == "media"]
    speech = [
        i
        for i, f in enumerate(frames)
        if is_speech(ulaw_to_pcm16(base64.b64decode(f["media"]["payload"])))
    ]
    return (speech[-1] + 1) * 0.02


LAST_SPEECH_S = _last_speech_s()


@dataclass
class Notes:
    """What the stand-in saw, and when (``time.monotonic()``, the test's clock too)."""

    nudged_at: float | None = None  # the first instruction reached a session
    answered_at: float | None = None
    stalled_sessions: list[int] = field(default_factory=list)


async def asked(conn: StandInConnection) -> None:
    """The caller's question has been heard: Gemini transcribes it."""
    await conn.wait_audio_ms(CALLER_MS - 200, timeout=20)
    await conn.transcript("caller", CALLER_WORDS)


async def answer(conn: StandInConnection, notes: Notes, pcm: bytes = ANSWER) -> None:
    notes.answered_at = notes.answered_at or time.monotonic()
    await conn.send_audio(pcm)
    await conn.transcript("agent", AGENT_WORDS)
    await conn.generation_complete()
    await conn.turn_complete()


async def nudged(conn: StandInConnection, notes: Notes) -> None:
    await conn.wait_text(timeout=30)
    notes.nudged_at = notes.nudged_at or time.monotonic()


async def mute(conn: StandInConnection) -> None:
    """A session that never says anything again (the socket stays open)."""
    await conn.ws.wait_closed()


Path_ = Callable[[Notes, GeminiStandIn], Scenario]


def normal(notes: Notes, standin: GeminiStandIn) -> Scenario:
    """No stall: the reference."""

    async def scenario(conn: StandInConnection) -> None:
        await asked(conn)
        await answer(conn, notes)

    return scenario


def empty_turn(notes: Notes, standin: GeminiStandIn) -> Scenario:
    """turnComplete with no audio after the caller's words (google-genai 2117)."""

    async def scenario(conn: StandInConnection) -> None:
        await asked(conn)
        await conn.turn_complete()
        await nudged(conn, notes)
        await answer(conn, notes)

    return scenario


def _by_connection(*scenarios: Callable[[StandInConnection], Awaitable[None]]) -> Scenario:
    async def dispatch(conn: StandInConnection) -> None:
        await scenarios[min(conn.index, len(scenarios) - 1)](conn)

    return dispatch


def silent_then_resumed(notes: Notes, standin: GeminiStandIn) -> Scenario:
    """Nothing at all after the caller's words, the nudge ignored; a resumed session
    answers."""

    async def stalls(conn: StandInConnection) -> None:
        await conn.resumption("h1")
        await asked(conn)
        await nudged(conn, notes)
        await mute(conn)

    async def resumed(conn: StandInConnection) -> None:
        await conn.wait_text(timeout=30)
        await answer(conn, notes)

    return _by_connection(stalls, resumed)


def resumption_refused(notes: Notes, standin: GeminiStandIn) -> Scenario:
    """As above, but the service refuses to resume (it closes during setup, as reported
    once the system instruction is long); a fresh session told the conversation answers."""
    standin.fail_setup = {1}

    async def seeded(conn: StandInConnection) -> None:
        await conn.wait_text(timeout=30)
        await answer(conn, notes)

    return _by_connection(silent_then_resumed(notes, standin), mute, seeded)


def stopped_mid_sentence(notes: Notes, standin: GeminiStandIn) -> Scenario:
    """The reply's audio stops half-way, with neither generationComplete nor
    turnComplete (google-genai 1657); nudged, the model finishes it."""

    async def scenario(conn: StandInConnection) -> None:
        await asked(conn)
        await conn.send_audio(ANSWER[: len(ANSWER) // 2])
        await nudged(conn, notes)
        await answer(conn, notes, ANSWER[len(ANSWER) // 2 :])

    return scenario


def mute_after_interrupted(notes: Notes, standin: GeminiStandIn) -> Scenario:
    """An `interrupted` nobody spoke for, then silence (google-genai 2333)."""

    async def scenario(conn: StandInConnection) -> None:
        await asked(conn)
        await conn.send_audio(REPLY, realtime=1.0, until=_after(0.5))
        await conn.interrupted()
        await conn.turn_complete()
        await nudged(conn, notes)
        await answer(conn, notes)

    return scenario


def _after(seconds: float) -> asyncio.Event:
    done = asyncio.Event()
    asyncio.get_running_loop().call_later(seconds, done.set)
    return done


def all_fail(notes: Notes, standin: GeminiStandIn) -> Scenario:
    """Every session stays silent: the live one, the resumed one, the fresh one."""

    async def stalls(conn: StandInConnection) -> None:
        notes.stalled_sessions.append(conn.index)
        if conn.index == 0:
            await conn.resumption("h1")
            await asked(conn)
        await mute(conn)

    return stalls


PATHS: dict[str, Path_] = {
    "normal reply (reference)": normal,
    "empty turnComplete -> nudge": empty_turn,
    "silence -> nudge -> resumed session": silent_then_resumed,
    "resumption refused -> fresh seeded session": resumption_refused,
    "reply stopped mid-sentence -> nudge": stopped_mid_sentence,
    "mute after interrupted -> nudge": mute_after_interrupted,
}


@dataclass
class StalledCall:
    stream: MediaStream
    connections: list[StandInConnection]
    summary: CallSummary
    record: dict[str, Any] | None
    notes: Notes
    speech_end: float  # when the caller's last speech frame had been sent
    closed_at: float  # when the stream closed (the <Connect action> follows)
    after_stream: str  # what the <Connect action> answered once the stream closed
    metrics: str  # /metrics at the end

    def first_audio_after(self, moment: float | None) -> float | None:
        """When the first agent audio after ``moment`` reached the caller."""
        if moment is None:
            return None
        return next((t for t, m in self.stream.media_messages if t >= moment), None)

    @property
    def recovered_s(self) -> float | None:
        """End of the caller's speech → the first recovered audio at the caller (for the
        reference: the first audio at all)."""
        moment = self.notes.nudged_at or self.speech_end
        first = self.first_audio_after(moment)
        return None if first is None else first - self.speech_end


async def stalled_call(
    standin: GeminiStandIn, path: Path_, records: Path, *, answered: bool = True, **settings: Any
) -> StalledCall:
    """One call asking the recorded question of a model that stalls as ``path`` does."""
    notes = Notes()
    standin.scenario = path(notes, standin)
    values: dict[str, Any] = {
        "dead_air_seconds": BOUND_S,
        "dead_air_instruction": NUDGE,
        "call_records_path": str(records),
    }
    values.update(settings)
    async with serve_app(settings_for(standin, **values)) as server:
        twilio, stream = await start_call(server)
        began = time.monotonic()
        await stream.replay(QUESTION, stop=False)
        speech_end = began + LAST_SPEECH_S
        if answered:
            await stream.wait_for(lambda: notes.answered_at is not None, timeout=40)
            await stream.wait_for(lambda: _heard_all(stream, notes), timeout=20)
            await stream.stop(CALL_SID)
        await stream.wait_closed(timeout=40)
        closed_at = time.monotonic()
        summary = await server.call_ended()
        after_stream = (await twilio.call_ended(CALL_SID)).text
        async with httpx.AsyncClient() as http:
            metrics = (await http.get(server.base + "/metrics")).text
    record = CallRecords(records).get(CALL_SID)
    return StalledCall(
        stream,
        standin.connections,
        summary,
        record,
        notes,
        speech_end,
        closed_at,
        after_stream,
        metrics,
    )


def _heard_all(stream: MediaStream, notes: Notes) -> bool:
    """The answer has been played and every mark came back."""
    assert notes.answered_at is not None
    after = sum(
        len(m["media"]["payload"]) * 3 // 4
        for t, m in stream.media_messages
        if t >= notes.answered_at
    )
    enough = ANSWER_ULAW_BYTES // 2 - 100  # half of it, at least (the rest after a stop)
    return after >= enough and len(stream.marks_echoed) == stream.marks_sent
