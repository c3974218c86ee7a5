"""The thinking sound end to end: a slow tool over real sockets (the Twilio emulator on
a line that never falls silent, uvicorn, the real google-genai client over TLS to the
stand-in). Checked by the order of the frames Twilio gets, never by their timing: the
sound starts only after THINKING_AUDIO_AFTER_MS, never more than two of its frames wait
at Twilio, none follows the agent's first frame or a barge-in, it is absent from the
ledger and the transcript, and the recording has it where the caller heard it.
"""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

from app.audio.convert import ulaw_to_pcm16
from app.audio.thinking_sound import built_in
from app.call.thinking import MARK_PREFIX
from app.sinks.records import CallRecords
from tests.support.calls import CALL_SID
from tests.support.gemini_standin import GeminiStandIn
from tests.support.thinking_calls import WORDS, pairs, thinking_call, thinking_delay


async def test_a_slow_tool_plays_the_sound_after_the_delay_and_stops_for_the_answer(
    standin: GeminiStandIn, tmp_path: Path
) -> None:
    stream, times, queued, summary = await thinking_call(standin, tmp_path)
    sent = pairs(stream)
    kinds = [kind for kind, *_ in sent]
    first_agent = kinds.index("agent")
    assert set(kinds[:first_agent]) == {"thinking"} and "thinking" not in kinds[first_agent:]
    thinking = [s for s in sent if s[0] == "thinking"]
    start_delay = thinking_delay(stream, times)
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
