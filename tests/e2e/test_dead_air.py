"""Dead-air recovery end to end: each stall the field reports, over real sockets (the
Twilio emulator, uvicorn, the real google-genai client over TLS to the stand-in), is
recovered by the step that brings audio back, and every step is in the log, the
metrics and the call record. The times are printed (``-s``); bench/dead_air.py
measures them beside a reference.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from app.call.outcome import Outcome
from tests.support.dead_air_calls import (
    ANSWER_ULAW_BYTES,
    CALLER_WORDS,
    NUDGE,
    StalledCall,
    all_fail,
    empty_turn,
    mute_after_interrupted,
    normal,
    resumption_refused,
    silent_then_resumed,
    stalled_call,
    stopped_mid_sentence,
)
from tests.support.gemini_standin import GeminiStandIn

pytestmark = pytest.mark.dead_air


def steps_recorded(call: StalledCall) -> list[tuple[str, str]]:
    assert call.record is not None
    return [(r["cause"], r["step"]) for r in call.record["recoveries"]]


def assert_recovered(call: StalledCall, cause: str, steps: list[str]) -> None:
    """Recovered by the last of ``steps``: the answer was heard, the call completed, and
    each step (and the recovery) is in the record, the metrics and on the leg."""
    assert call.summary.outcome is Outcome.COMPLETED
    assert steps_recorded(call) == [(cause, s) for s in [*steps, "recovered"]]
    assert call.record is not None and call.record["dead_air"] == 1
    for step in steps:
        assert f'phonebot_dead_air_steps_total{{cause="{cause}",step="{step}"}} 1.0' in call.metrics
    assert f'phonebot_dead_air_recovered_seconds_count{{step="{steps[-1]}"}} 1.0' in call.metrics
    first = call.first_audio_after(call.notes.nudged_at)
    assert first is not None
    heard = sum(
        len(m["media"]["payload"]) * 3 // 4 for t, m in call.stream.media_messages if t >= first
    )
    assert heard >= ANSWER_ULAW_BYTES // 2 - 100
    print(f"\n[dead air] end of caller speech -> recovered audio: {call.recovered_s:.2f} s")


async def test_a_normal_reply_takes_no_step(
    standin: GeminiStandIn, tmp_path: Path, dead_air_steps: list[str]
) -> None:
    call = await stalled_call(standin, normal, tmp_path / "calls.sqlite3")
    assert dead_air_steps == [] and steps_recorded(call) == []
    assert standin.connections[0].texts == []
    assert call.record is not None and call.record["dead_air"] == 0


async def test_an_empty_turn_complete_after_the_callers_words_is_nudged(
    standin: GeminiStandIn, tmp_path: Path, dead_air_steps: list[str]
) -> None:
    call = await stalled_call(standin, empty_turn, tmp_path / "calls.sqlite3")
    assert dead_air_steps == ["empty_turn step 1"]
    (conn,) = call.connections
    assert conn.texts == [NUDGE]
    assert_recovered(call, "empty_turn", ["nudge"])


async def test_total_silence_is_nudged_then_resumed_with_the_handle(
    standin: GeminiStandIn, tmp_path: Path, dead_air_steps: list[str]
) -> None:
    call = await stalled_call(standin, silent_then_resumed, tmp_path / "calls.sqlite3")
    assert dead_air_steps == ["no_reply step 1", "no_reply step 2"]
    stalled, resumed = call.connections
    assert stalled.texts == [NUDGE] and resumed.texts == [NUDGE]
    assert (stalled.resume_handle, resumed.resume_handle) == (None, "h1")
    assert resumed.history == []  # resumed: the service has the conversation
    assert (call.summary.link.renewals, call.summary.link.reconnects) == (1, 0)
    assert 'phonebot_gemini_session_switches_total{reason="renewal"} 1.0' in call.metrics
    assert_recovered(call, "no_reply", ["nudge", "resume"])


async def test_a_refused_resumption_gets_a_fresh_session_told_the_conversation(
    standin: GeminiStandIn, tmp_path: Path, dead_air_steps: list[str]
) -> None:
    call = await stalled_call(standin, resumption_refused, tmp_path / "calls.sqlite3")
    _, refused, fresh = call.connections
    assert refused.resume_handle == "h1" and fresh.resume_handle is None
    # Told the conversation so far in client content, before any realtime input.
    assert fresh.history == [{"role": "user", "parts": [{"text": CALLER_WORDS}]}]
    assert fresh.history_complete
    first = fresh.received[0]
    assert set(first) == {"client_content"} or set(first) == {"clientContent"}
    history_config = fresh.setup.get("historyConfig") or fresh.setup.get("history_config")
    assert history_config == {"initial_history_in_client_content": True}
    assert fresh.texts == [NUDGE]
    assert dead_air_steps == ["no_reply step 1", "no_reply step 2", "no_reply step 3"]
    assert_recovered(call, "no_reply", ["nudge", "resume", "seed"])


async def test_a_reply_stopped_mid_sentence_is_nudged_to_go_on(
    standin: GeminiStandIn, tmp_path: Path, dead_air_steps: list[str]
) -> None:
    call = await stalled_call(standin, stopped_mid_sentence, tmp_path / "calls.sqlite3")
    assert dead_air_steps == ["stopped step 1"]
    assert_recovered(call, "stopped", ["nudge"])


async def test_a_session_mute_after_a_phantom_interruption_is_nudged(
    standin: GeminiStandIn, tmp_path: Path, dead_air_steps: list[str]
) -> None:
    call = await stalled_call(standin, mute_after_interrupted, tmp_path / "calls.sqlite3")
    assert len(call.stream.clears) == 1
    assert dead_air_steps == ["mute_after_interrupt step 1"]
    assert_recovered(call, "mute_after_interrupt", ["nudge"])


async def test_when_every_step_fails_the_caller_hears_the_apology(
    standin: GeminiStandIn, tmp_path: Path, dead_air_steps: list[str]
) -> None:
    call = await stalled_call(standin, all_fail, tmp_path / "calls.sqlite3", answered=False)
    assert dead_air_steps == [f"no_reply step {n}" for n in (1, 2, 3, 4)]
    assert call.notes.stalled_sessions == [0, 1, 2]
    assert call.summary.outcome is Outcome.AGENT_SILENT
    assert call.stream.closed_code == 1000
    assert call.stream.closed_reason.startswith("agent_silent: dead air: no agent audio after")
    after = ET.fromstring(call.after_stream)
    assert [el.tag for el in after] == ["Say", "Hangup"]
    assert steps_recorded(call) == [
        ("no_reply", step) for step in ("nudge", "resume", "seed", "apology")
    ]
    assert call.record is not None and call.record["outcome"] == "agent_silent"
    assert 'phonebot_calls_total{outcome="agent_silent"} 1.0' in call.metrics
    assert call.stream.media_messages == []  # nothing but the apology, after the stream
