"""Call records: written as the call goes, cut at what the caller heard, shown by
`GET /calls` and `python -m app calls`."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import httpx

from app.call.record import heard_text
from app.sinks.records import CallRecords
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
