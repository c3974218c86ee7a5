"""The thinking sound end to end: a slow tool over real sockets (the Twilio emulator on
a line that never falls silent, uvicorn, the real google-genai client over TLS to the
stand-in). Checked by the order of the frames Twilio gets, never by their timing: the
sound starts only after THINKING_AUDIO_AFTER_MS, never more than two of its frames wait
at Twilio, none follows the agent's first frame or a barge-in, it is absent from the
ledger and the transcript, and the recording has it where the caller heard it.
"""

from __future__ import annotations

import asyncio
import base64
import time
import wave
from pathlib import Path
from typing import Any

import numpy as np

from app.audio.convert import ulaw_to_pcm16
from app.audio.thinking_sound import built_in
from app.call.thinking import MARK_PREFIX
from app.sinks.records import CallRecords
from app.telephony.captures import capture_ulaw
from app.telephony.media_stream import MediaStream
from tests.support.calls import CALL_SID, QUESTION, REPLY, start_call
from tests.support.gemini_standin import GeminiStandIn, StandInConnection
from tests.support.live_call import PhoneLine
from tests.support.server import serve_app, settings_for

ANSWER = REPLY[: 2 * 24000]  # one second
TOOL_S = 2.0
WORDS = "The store opens at nine."


def tool_then_answer(times: dict[str, float], *, barge_in: bool = False) -> Any:
    async def scenario(conn: StandInConnection) -> None:
        await conn.wait_audio_ms(1600)  # the caller has asked (1.2 s) and paused
        await conn.transcript("caller", "When do you open?")
        times["tool_call"] = time.monotonic()
        await conn.tool_call("t1", "slow_lookup", {"topic": "hours", "seconds": TOOL_S})
        if barge_in:
            await asyncio.sleep(1.3)  # the sound has started (0.8 s) and plays
            times["interrupted"] = time.monotonic()
            await conn.interrupted()
        await conn.wait_tool_response("t1")
        await conn.send_audio(ANSWER)
        await conn.transcript("agent", WORDS)
        await conn.generation_complete()
        await conn.turn_complete()
        times["answered"] = time.monotonic()

    return scenario


def pairs(stream: MediaStream) -> list[tuple[str, float, str, bytes]]:
    """Each media message with the mark after it: (kind, time, mark, µ-law)."""
    received = [(t, m) for t, m in stream.received if m["event"] in ("media", "mark")]
    out = []
    for (t, media), (_, mark) in zip(received[::2], received[1::2], strict=True):
        assert (media["event"], mark["event"]) == ("media", "mark")  # each media, its mark
        name = mark["mark"]["name"]
        kind = "thinking" if name.startswith(MARK_PREFIX) else "agent"
        out.append((kind, t, name, base64.b64decode(media["media"]["payload"])))
    return out


async def thinking_call(
    standin: GeminiStandIn, tmp_path: Path, *, barge_in: bool = False
) -> tuple[MediaStream, dict[str, float], list[float], Any]:
    times: dict[str, float] = {}
    standin.scenario = tool_then_answer(times, barge_in=barge_in)
    settings = settings_for(
        standin,
        tool_modules="tests.support.sample_tools",
        recordings_dir=str(tmp_path / "rec"),
        call_records_path=str(tmp_path / "calls.sqlite3"),
    )
    queued: list[float] = []
    async with serve_app(settings) as server:
        _, stream = await start_call(server)
        await stream.replay(QUESTION[:2], stop=False)
        line = PhoneLine(stream)
        line.say(capture_ulaw(QUESTION)[: 8 * 1200])
        try:
            while "answered" not in times:  # Twilio's buffer, as often as the loop allows
                queued.append(stream.queued_ms)
                await asyncio.sleep(0.002)
            await stream.wait_for(lambda: len(stream.marks_echoed) == stream.marks_sent)
            await asyncio.sleep(0.2)
        finally:
            await line.close()
        await stream.stop(CALL_SID)
        await stream.wait_closed()
        summary = await server.call_ended()
    return stream, times, queued, summary


async def test_a_slow_tool_plays_the_sound_after_the_delay_and_stops_for_the_answer(
    standin: GeminiStandIn, tmp_path: Path
) -> None:
    stream, times, queued, summary = await thinking_call(standin, tmp_path)
    sent = pairs(stream)
    kinds = [kind for kind, *_ in sent]
    first_agent = kinds.index("agent")
    assert set(kinds[:first_agent]) == {"thinking"} and "thinking" not in kinds[first_agent:]
    thinking = [s for s in sent if s[0] == "thinking"]
    start_delay = thinking[0][1] - times["tool_call"]
    print(f"\n[thinking] tool call -> first thinking frame at the caller: {start_delay:.3f} s")
    assert start_delay >= 0.8  # never before THINKING_AUDIO_AFTER_MS
    # the built-in sound, frame after frame, from its start
    played = b"".join(ulaw for *_, ulaw in thinking)
    assert played == (built_in() * 2)[: len(played)]
    assert max(queued) <= 40.0  # never more than two 20 ms frames waiting at Twilio
    # the ledger and the transcript know only the agent's words and audio
    agent_ms = sum(len(ulaw) for kind, *_, ulaw in sent if kind == "agent") / 8
    assert summary.stats.agent_audio_ms == agent_ms and summary.stats.agent_turns == 1
    assert [t.text for t in summary.turns if t.speaker == "agent"] == [WORDS]
    record = CallRecords(tmp_path / "calls.sqlite3").get(CALL_SID)
    assert record is not None
    agent_rows = [t for t in record["turns"] if t["speaker"] == "agent"]
    assert [(t["text"], t["sent_ms"]) for t in agent_rows] == [(WORDS, agent_ms)]
    # the recording has the sound where the caller heard it, before the answer
    with wave.open(str(tmp_path / "rec" / f"{CALL_SID}.wav")) as wav:
        right = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")[1::2]
    heard = np.frombuffer(ulaw_to_pcm16(played), dtype="<i2")
    at = _find(right, heard[:800])
    assert at is not None and np.array_equal(right[at : at + len(heard)], heard)
    answer = np.frombuffer(ulaw_to_pcm16(b"".join(u for k, *_, u in sent if k == "agent")), "<i2")
    assert _find(right, answer[:800]) is not None
    assert _find(right, answer[:800]) > at  # type: ignore[operator]


async def test_a_barge_in_stops_the_sound_for_the_rest_of_the_tools_run(
    standin: GeminiStandIn, tmp_path: Path
) -> None:
    stream, _, _, _ = await thinking_call(standin, tmp_path, barge_in=True)
    events = [m["event"] for _, m in stream.received]
    marks = [m["mark"]["name"] if m["event"] == "mark" else "" for _, m in stream.received]
    cleared = events.index("clear")  # Gemini's `interrupted`: a clear first
    assert any(name.startswith(MARK_PREFIX) for name in marks[:cleared])  # it was playing
    assert not any(name.startswith(MARK_PREFIX) for name in marks[cleared:])


def _find(haystack: np.ndarray, needle: np.ndarray) -> int | None:
    """Where ``needle`` first occurs in ``haystack``, exactly."""
    if not len(needle):
        return None
    candidates = np.flatnonzero(haystack == needle[0])
    for start in candidates:
        if np.array_equal(haystack[start : start + len(needle)], needle):
            return int(start)
    return None
