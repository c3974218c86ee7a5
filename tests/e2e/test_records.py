"""Call records: written as the call goes, cut at what the caller heard, shown by
`GET /calls` and `python -m app calls`."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx

from app.call.outcome import Outcome
from app.call.record import CallEnd, CallStart, Turn, heard_text
from app.sinks.records import CallRecords, format_call
from tests.support.calls import BARGE_IN, CALL_SID, REPLY, start_call
from tests.support.gemini_standin import GeminiStandIn, StandInConnection
from tests.support.server import ROOT, process_env, serve_app, settings_for

AUTH = {"Authorization": "Bearer rec-token-1-0123456789abcdef0123456789"}


def test_heard_text_cuts_at_a_word_boundary() -> None:
    text = "Sure, the store opens at nine in the morning."
    assert heard_text(text, 1000, 1000) == text
    assert heard_text(text, 500, 1000) == "Sure, the store opens…"
    assert heard_text(text, 0, 1000) == ""


async def test_records_follow_the_call_and_are_served(
    standin: GeminiStandIn, tmp_path: Path
) -> None:
    path = tmp_path / "calls.sqlite3"
    seen_mid_call: dict[str, object] = {}

    async def scenario(conn: StandInConnection) -> None:
        await conn.wait_audio_ms(200)
        # Gemini streams the transcription alongside the audio.
        await conn.transcript("agent", "Sure, the store opens at nine in the morning, and")
        await conn.transcript("agent", " it closes at six in the evening on weekdays.")
        await conn.send_audio(REPLY * 2, realtime=2.0)  # 6 s reply, faster than real time

    async def barge(conn: StandInConnection) -> None:
        speaking = asyncio.create_task(scenario(conn))
        await conn.wait_audio_ms(1500 + 300)
        await conn.interrupted()
        speaking.cancel()
        await conn.transcript("caller", "Wait, sorry, I have another question.")
        await conn.turn_complete()

    standin.scenario = barge
    settings = settings_for(
        standin,
        call_records_path=str(path),
        operator_token="rec-token-1-0123456789abcdef0123456789",
    )
    async with serve_app(settings) as server, httpx.AsyncClient() as http:
        _, stream = await start_call(server)
        await stream.replay(BARGE_IN, stop=False)
        await stream.wait_for(lambda: bool(stream.clears))
        await asyncio.sleep(0.3)
        seen_mid_call.update(CallRecords(path).get(CALL_SID) or {})
        await stream.stop(CALL_SID)
        await stream.wait_closed()
        listed = await http.get(server.base + "/calls", headers=AUTH)
        one = await http.get(server.base + f"/calls/{CALL_SID}", headers=AUTH)
        assert (await http.get(server.base + "/calls")).status_code == 401
        unknown = "/calls/CA" + "0" * 32
        assert (await http.get(server.base + unknown, headers=AUTH)).status_code == 404
        assert (await http.get(server.base + "/calls/CA0", headers=AUTH)).status_code == 400

    assert seen_mid_call["outcome"] is None  # the row existed while the call ran
    assert listed.json()["calls"][0]["call_sid"] == CALL_SID
    record = one.json()
    assert record["outcome"] == "completed" and record["caller"] == "+15550100001"
    assert record["interruptions"] == 1 and record["duration_s"] > 1
    agent = next(t for t in record["turns"] if t["speaker"] == "agent")
    assert agent["interrupted"] == 1 and 0 < agent["heard_ms"] < agent["sent_ms"]
    assert agent["heard_text"].endswith("…") and len(agent["heard_text"]) < len(agent["text"])

    env = process_env(
        GEMINI_API_KEY="k", ALLOW_UNSIGNED_REQUESTS="true", CALL_RECORDS_PATH=str(path)
    )
    listing = subprocess.run(
        [sys.executable, "-m", "app", "calls", "--last", "5"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert listing.returncode == 0 and CALL_SID in listing.stdout and "completed" in listing.stdout
    detail = subprocess.run(
        [sys.executable, "-m", "app", "calls", CALL_SID],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "agent (interrupted):" in detail.stdout
    assert ROOT.exists()


async def test_completed_replies_are_recorded_as_far_as_they_played(
    standin: GeminiStandIn, tmp_path: Path
) -> None:
    """A reply is recorded when the model completes it, before it has played; the record
    then follows the marks: all heard once played, cut if the caller hangs up mid-reply."""
    path = tmp_path / "calls.sqlite3"
    second = asyncio.Event()

    async def scenario(conn: StandInConnection) -> None:
        await conn.wait_audio_ms(200)
        await conn.transcript("agent", "Sure, the store opens at nine in the morning.")
        await conn.send_audio(REPLY)
        await conn.turn_complete()
        await second.wait()
        await conn.transcript("agent", "We are also open on Sundays, from ten until four.")
        await conn.send_audio(REPLY * 2)
        await conn.turn_complete()

    standin.scenario = scenario
    settings = settings_for(standin, call_records_path=str(path))
    async with serve_app(settings) as server:
        _, stream = await start_call(server)
        await stream.replay(BARGE_IN[:60], stop=False)
        await stream.wait_for(lambda: len(stream.marks_echoed) == stream.marks_sent > 0)
        async with asyncio.timeout(5):  # the server has the last mark a moment later
            while True:
                first = (CallRecords(path).get(CALL_SID) or {})["turns"][0]
                if first["heard_ms"] > 0:
                    break
                await asyncio.sleep(0.02)
        second.set()
        sent_before = stream.marks_sent
        await stream.wait_for(lambda: stream.marks_sent > sent_before + 10)
        await asyncio.sleep(1.0)  # a second of the 6 s reply plays, then the caller hangs up
        await stream.stop(CALL_SID)
        await stream.wait_closed()

    turns = (CallRecords(path).get(CALL_SID) or {})["turns"]
    assert first["heard_ms"] == first["sent_ms"] > 2900 and first["heard_text"] == first["text"]
    assert turns[0] == first
    cut = turns[1]
    assert cut["interrupted"] == 0 and 500 < cut["heard_ms"] < 2500 < cut["sent_ms"]
    assert cut["heard_text"].endswith("…") and len(cut["heard_text"]) < len(cut["text"])


OLD_SCHEMA = """
CREATE TABLE legs (
    id INTEGER PRIMARY KEY AUTOINCREMENT, call_sid TEXT NOT NULL, stream_sid TEXT, caller TEXT,
    called TEXT, direction TEXT, started_at REAL, ended_at REAL, duration_s REAL, outcome TEXT,
    reason TEXT, reconnects INTEGER DEFAULT 0, switches INTEGER DEFAULT 0,
    tokens INTEGER DEFAULT 0, tool_calls INTEGER DEFAULT 0, interruptions INTEGER DEFAULT 0,
    leg INTEGER NOT NULL DEFAULT 1, UNIQUE (call_sid, leg)
);
CREATE TABLE leg_turns (
    leg_id INTEGER REFERENCES legs (id), call_sid TEXT, seq INTEGER, at REAL, speaker TEXT,
    text TEXT, heard_text TEXT, interrupted INTEGER, sent_ms REAL, heard_ms REAL,
    PRIMARY KEY (leg_id, seq)
);
INSERT INTO legs (call_sid, outcome) VALUES ('CA00000000000000000000000000000001', 'completed');
INSERT INTO leg_turns VALUES (1, 'CA00000000000000000000000000000001', 1, 0, 'caller', 'Hi',
    'Hi', 0, 0, 0);
"""


def test_a_file_from_before_dead_air_gains_its_columns_and_keeps_its_calls(tmp_path: Path) -> None:
    path = tmp_path / "calls.sqlite3"
    with sqlite3.connect(path) as db:
        db.executescript(OLD_SCHEMA)
    records = CallRecords(path)
    old = records.get("CA00000000000000000000000000000001")
    assert old is not None and old["dead_air"] == 0 and old["recoveries"] == []
    assert old["turns"][0]["end_reason"] == "" and old["turns"][0]["text"] == "Hi"
    call = "CA" + "7" * 32
    records.call_started(CallStart(call, "MZ" + "7" * 32, "+15550100001", None, "inbound"))
    records.turn(call, Turn(1, "agent", "", end_reason="NEED_MORE_INPUT", waiting_for_input=True))
    records.recovery(call, "empty_turn", "nudge", 0.4)
    records.recovery(call, "empty_turn", "recovered", 1.1)
    end = CallEnd(call, 9.0, Outcome.COMPLETED, "caller hung up", 0, 0, 0, 0, 0, dead_air=1)
    records.call_ended(end)
    record = records.get(call)
    assert record is not None and record["dead_air"] == 1
    assert [(r["cause"], r["step"], r["silent_s"]) for r in record["recoveries"]] == [
        ("empty_turn", "nudge", 0.4),
        ("empty_turn", "recovered", 1.1),
    ]
    assert [(t["end_reason"], t["waiting_for_input"]) for t in record["turns"]] == [
        ("NEED_MORE_INPUT", 1)
    ]
    shown = format_call(record, with_turns=True)
    assert "dead air 1" in shown
    assert "agent (NEED_MORE_INPUT): " in shown
    assert "dead air (empty_turn, 0.4 s): nudge" in shown
    records.close()
    CallRecords(path).close()  # opened again: nothing to add, nothing lost
