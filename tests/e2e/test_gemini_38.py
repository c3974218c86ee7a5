"""Gemini 3.8's fields in the shapes the service and the SDK team's fixtures use, read
by the real SDK and the adapter and acted on by the call, over real sockets:
``turnCompleteReason`` and ``waitingForInput`` (the SDK team's fixture itself, read
from shared/wire-recordings), ``interactionStatus``, ``voiceActivity`` (the wire key
``type``, the offset a duration string); barge-in on whichever of ``voiceActivity``
start and ``interrupted`` comes first; a close 1007 after setup retried once.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import pytest

from app.agent.events import (
    AgentEvent,
    InteractionStatus,
    TurnComplete,
    VoiceActivity,
    WaitingForInput,
)
from app.agent.gemini.session import read_message
from app.call.outcome import Outcome
from app.sinks.records import CallRecords
from app.telephony.captures import capture_ulaw
from tests.support.calls import (
    BARGE_IN,
    CALL_SID,
    QUESTION,
    REPLY,
    reply_talked_over,
    start_call,
)
from tests.support.dead_air_calls import (
    ANSWER,
    CALLER_MS,
    CALLER_WORDS,
    Notes,
    answer,
    asked,
    stalled_call,
)
from tests.support.gemini_standin import GeminiStandIn, StandInConnection
from tests.support.server import serve_app, settings_for
from tests.support.wire_calls import sdk_reading

ROOT = Path(__file__).resolve().parents[2]
FRAMES = ROOT.parent / "shared" / "wire-recordings" / "gemini_server_frames.jsonl"


def sdk_fixture(key: str) -> str:
    """The SDK team's fixture frame holding ``key`` (read where it lives, never copied)."""
    if not FRAMES.is_file():
        if os.environ.get("REQUIRE_WIRE_RECORDINGS") == "1":
            pytest.fail(f"the wire recordings are not in {FRAMES.parent}")
        pytest.skip(f"the wire recordings are not in {FRAMES.parent}")
    for line in FRAMES.read_text(encoding="utf-8").splitlines():
        frame = json.loads(line)["frame"]
        if key in frame:
            return str(frame)
    raise AssertionError(f"no recorded frame has {key}")


VOICE_START = {"voiceActivity": {"type": "ACTIVITY_START", "audioOffset": "0.360s"}}
NEED_MORE = "turnCompleteReason"


@pytest.mark.parametrize(
    ("frame", "events"),
    [
        (
            "fixture:" + NEED_MORE,
            [TurnComplete("NEED_MORE_INPUT", waiting_for_input=True)],
        ),
        (json.dumps(VOICE_START), [VoiceActivity(True, 0.36)]),
        (
            json.dumps({"voiceActivity": {"type": "ACTIVITY_END"}, "serverContent": {}}),
            [VoiceActivity(False)],
        ),
        (
            json.dumps(
                {"serverContent": {"turnComplete": True, "interactionStatus": "IN_PROGRESS"}}
            ),
            [TurnComplete(status="IN_PROGRESS")],
        ),
        (json.dumps({"serverContent": {"interactionStatus": "IDLE"}}), [InteractionStatus(False)]),
        (json.dumps({"serverContent": {"waitingForInput": True}}), [WaitingForInput()]),
        (
            json.dumps({"voiceActivity": {"type": "TYPE_UNSPECIFIED"}}),
            [],  # nothing to act on (and not an error)
        ),
    ],
)
async def test_the_sdk_and_the_adapter_read_each_field_alike(
    frame: str, events: list[AgentEvent]
) -> None:
    text = sdk_fixture(frame.removeprefix("fixture:")) if frame.startswith("fixture:") else frame
    for vertex in (False, True):
        assert await sdk_reading(text, vertex=vertex) == events
        assert list(read_message(json.loads(text), vertex=vertex)) == events


async def test_a_model_waiting_for_more_input_is_not_nudged_and_the_turn_says_so(
    standin: GeminiStandIn, tmp_path: Path, dead_air_steps: list[str]
) -> None:
    waiting = sdk_fixture(NEED_MORE)

    def path(notes: Notes, standin: GeminiStandIn) -> Any:
        async def scenario(conn: StandInConnection) -> None:
            await asked(conn)
            await conn.send_frame(waiting)
            await asyncio.sleep(2.5)  # past the bound (1 s), from the caller's last word
            await answer(conn, notes)

        return scenario

    call = await stalled_call(standin, path, tmp_path / "calls.sqlite3")
    assert dead_air_steps == [] and standin.connections[0].texts == []
    assert call.record is not None
    ended = [
        (t["speaker"], t["text"], t["end_reason"], t["waiting_for_input"])
        for t in call.record["turns"]
    ]
    assert ended[:2] == [("caller", CALLER_WORDS, "", 0), ("agent", "", "NEED_MORE_INPUT", 1)]


async def test_in_progress_plays_the_thinking_sound_and_is_never_nudged(
    standin: GeminiStandIn, tmp_path: Path, dead_air_steps: list[str]
) -> None:
    def path(notes: Notes, standin: GeminiStandIn) -> Any:
        async def scenario(conn: StandInConnection) -> None:
            await asked(conn)
            await conn.turn_complete(status="IN_PROGRESS")  # reasoning in the background
            await asyncio.sleep(2.5)
            notes.answered_at = asyncio.get_running_loop().time()
            await conn.send_audio(ANSWER)
            await conn.transcript("agent", "Nine.")
            await conn.generation_complete()
            await conn.turn_complete(status="IDLE")

        return scenario

    call = await stalled_call(standin, path, tmp_path / "calls.sqlite3")
    assert dead_air_steps == [] and standin.connections[0].texts == []
    names = [m["mark"]["name"] for _, m in call.stream.received if m["event"] == "mark"]
    first_agent = next(i for i, n in enumerate(names) if not n.startswith("think-"))
    assert first_agent > 0 and all(n.startswith("think-") for n in names[:first_agent])
    assert not any(n.startswith("think-") for n in names[first_agent:])
    assert call.record is not None
    statuses = [t["status"] for t in call.record["turns"] if t["speaker"] == "agent"]
    assert statuses == ["IN_PROGRESS", "IDLE"]


@pytest.mark.parametrize("first", ["voice_activity", "interrupted"])
async def test_barge_in_acts_on_the_first_signal_and_cuts_once(
    standin: GeminiStandIn, first: str
) -> None:
    caller_ms = len(capture_ulaw(BARGE_IN)) / 8
    moments: dict[str, float] = {}

    async def scenario(conn: StandInConnection) -> None:
        stop, speaking = await reply_talked_over(conn)
        signals = [conn.voice_activity(True, "1.800s"), conn.interrupted()]
        if first == "voice_activity":
            await signals[0]  # Gemini's detector first: the model is still sending
            moments["first"] = asyncio.get_running_loop().time()
            await asyncio.sleep(0.1)
            stop.set()
            await speaking
            await signals[1]
        else:
            stop.set()
            await speaking
            await signals[1]
            moments["first"] = asyncio.get_running_loop().time()
            await asyncio.sleep(0.1)
            await signals[0]
        await conn.transcript("caller", "Wait, one more question.")
        await conn.turn_complete()
        await conn.wait_audio_ms(caller_ms - 200, timeout=15)
        await conn.voice_activity(False)
        await conn.send_audio(REPLY[: 48000 * 1])
        await conn.turn_complete()
        moments["second"] = asyncio.get_running_loop().time()

    standin.scenario = scenario
    async with serve_app(settings_for(standin)) as server:
        _, stream = await start_call(server)
        await stream.replay(BARGE_IN, stop=False)
        await stream.wait_for(lambda: "second" in moments, timeout=20)
        await stream.wait_for(lambda: len(stream.marks_echoed) == stream.marks_sent, timeout=5)
        await stream.stop(CALL_SID)
        await stream.wait_closed()
        summary = await server.call_ended()
    assert len(stream.clears) == 1  # one cut, whichever signal came first
    marks = [m["mark"]["name"] for _, m in stream.received if m["event"] == "mark"]
    after = marks[
        [m["event"] for _, m in stream.received if m["event"] in ("mark", "clear")].index("clear") :
    ]
    assert after and all(name.startswith("g1-t2-") for name in after)  # the next reply only
    assert summary.stats.interruptions == 1
    cut = [t for t in summary.turns if t.speaker == "agent" and t.interrupted]
    assert len(cut) == 1 and 0 < cut[0].heard_ms < cut[0].sent_ms


@pytest.mark.parametrize("again", [False, True])
async def test_a_close_1007_after_setup_is_retried_once_with_the_handle(
    standin: GeminiStandIn, tmp_path: Path, again: bool
) -> None:
    records = tmp_path / "calls.sqlite3"

    async def first(conn: StandInConnection) -> None:
        await conn.resumption("h1")
        await conn.wait_audio_ms(CALLER_MS - 200, timeout=20)
        await conn.close(1007, "Request contains an invalid argument.")

    async def second(conn: StandInConnection) -> None:
        if again:
            await conn.wait_audio_ms(100, timeout=20)
            await conn.close(1007, "Request contains an invalid argument.")
            return
        await conn.send_audio(ANSWER)
        await conn.turn_complete()

    standin.scenario = lambda conn: (first if conn.index == 0 else second)(conn)
    async with serve_app(settings_for(standin, call_records_path=str(records))) as server:
        _, stream = await start_call(server)
        await stream.replay(QUESTION, stop=False)
        if not again:
            await stream.wait_for(lambda: len(stream.heard) >= len(ANSWER) // 6 - 100, timeout=20)
            await stream.stop(CALL_SID)
        await stream.wait_closed(timeout=20)
        summary = await server.call_ended()
    assert [c.resume_handle for c in standin.connections] == [None, "h1"]
    if again:  # the second 1007 is fatal: the caller hears the apology
        assert summary.outcome is Outcome.AGENT_FAILED and "1007" in summary.reason
    else:
        assert summary.outcome is Outcome.COMPLETED and summary.link.reconnects == 1
    record = CallRecords(records).get(CALL_SID)
    assert record is not None and record["reconnects"] == 1
