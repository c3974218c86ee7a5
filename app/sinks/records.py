"""Call records in SQLite, written as each call goes (a crash loses nothing).

One row per call leg (numbers, start and end, outcome, reconnects, tokens, tool
calls, dead-air episodes), one row per turn of its transcript (with how Gemini 3.8
ended it), and one row per dead-air recovery step (and per recovery). A CallSid that
comes back (a call redirected to the bot again, or a replayed webhook) gets a second
leg beside the first: nothing is ever replaced. Agent turns keep what the caller actually heard: an
interrupted reply's text is cut in proportion to the audio played (known from
Twilio's marks), at a word boundary.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.call.actions import (
    CallBegan,
    CallEnded,
    DeadAirRecovered,
    DeadAirStep,
    Report,
    TurnHeard,
    TurnRecorded,
)
from app.call.record import CallEnd, CallStart, Turn, heard_text
from app.sinks.writer import SETTLE_TIMEOUT_S, DiskWriter, OnError

log = logging.getLogger(__name__)

CALL_COLUMNS = (
    "call_sid TEXT NOT NULL, stream_sid TEXT, caller TEXT, called TEXT, direction TEXT,"
    " started_at REAL, ended_at REAL, duration_s REAL, outcome TEXT, reason TEXT,"
    " reconnects INTEGER DEFAULT 0, switches INTEGER DEFAULT 0, tokens INTEGER DEFAULT 0,"
    " tool_calls INTEGER DEFAULT 0, interruptions INTEGER DEFAULT 0, dead_air INTEGER DEFAULT 0"
)
TURN_COLUMNS = (
    "seq INTEGER, at REAL, speaker TEXT, text TEXT, heard_text TEXT,"
    " interrupted INTEGER, sent_ms REAL, heard_ms REAL,"
    " end_reason TEXT DEFAULT '', waiting_for_input INTEGER DEFAULT 0, status TEXT DEFAULT ''"
)
# Columns added since files were first written: added to an older file when it is opened.
ADDED_COLUMNS = (
    ("legs", "dead_air", "INTEGER DEFAULT 0"),
    ("leg_turns", "end_reason", "TEXT DEFAULT ''"),
    ("leg_turns", "waiting_for_input", "INTEGER DEFAULT 0"),
    ("leg_turns", "status", "TEXT DEFAULT ''"),
)
SCHEMA = f"""
CREATE TABLE IF NOT EXISTS legs (
    id INTEGER PRIMARY KEY AUTOINCREMENT, {CALL_COLUMNS}, leg INTEGER NOT NULL DEFAULT 1,
    UNIQUE (call_sid, leg)
);
CREATE TABLE IF NOT EXISTS leg_turns (
    leg_id INTEGER REFERENCES legs (id), call_sid TEXT, {TURN_COLUMNS},
    PRIMARY KEY (leg_id, seq)
);
CREATE TABLE IF NOT EXISTS leg_recoveries (
    leg_id INTEGER REFERENCES legs (id), call_sid TEXT, at REAL, cause TEXT, step TEXT,
    silent_s REAL
);
"""
# Files written before legs existed (one row per CallSid) are moved over once.
MIGRATE_V1 = """
INSERT INTO legs (call_sid, stream_sid, caller, called, direction, started_at, ended_at,
    duration_s, outcome, reason, reconnects, switches, tokens, tool_calls, interruptions)
    SELECT call_sid, stream_sid, caller, called, direction, started_at, ended_at,
    duration_s, outcome, reason, reconnects, switches, tokens, tool_calls, interruptions
    FROM calls;
INSERT INTO leg_turns (leg_id, call_sid, seq, at, speaker, text, heard_text, interrupted,
    sent_ms, heard_ms) SELECT legs.id, turns.call_sid, seq, at, speaker, text, heard_text,
    interrupted, sent_ms, heard_ms FROM turns JOIN legs USING (call_sid);
DROP TABLE turns;
DROP TABLE calls;
"""


SHOWN = (
    "call_sid, leg, stream_sid, caller, called, direction, started_at, ended_at, duration_s,"
    " outcome, reason, reconnects, switches, tokens, tool_calls, interruptions, dead_air"
)


class CallRecords:
    """Call records in one SQLite file. One connection, used by the disk writer thread
    (writes) and by the operator API (reads), one statement at a time."""

    def __init__(self, path: Path) -> None:
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        self._lock = threading.Lock()
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        for table, column, kind in ADDED_COLUMNS:
            present = {row[1] for row in self._db.execute(f"PRAGMA table_info({table})")}
            if column not in present:
                self._db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
        tables = {row[0] for row in self._db.execute("SELECT name FROM sqlite_master")}
        if "calls" in tables:
            self._db.executescript(f"BEGIN; {MIGRATE_V1} COMMIT;")
        self._legs: dict[str, int] = {}  # CallSid -> its leg in progress (row id)

    def _run(self, sql: str, values: tuple[object, ...]) -> sqlite3.Cursor:
        with self._lock:
            return self._db.execute(sql, values)

    def call_started(self, start: CallStart) -> None:
        """A new leg of the call; an earlier leg with the same CallSid is kept."""
        cursor = self._run(
            "INSERT INTO legs (call_sid, stream_sid, caller, called, direction, started_at,"
            " leg) VALUES (?, ?, ?, ?, ?, ?,"
            " (SELECT COALESCE(MAX(leg), 0) + 1 FROM legs WHERE call_sid = ?))",
            (
                start.call_sid,
                start.stream_sid,
                start.caller,
                start.called,
                start.direction,
                time.time(),
                start.call_sid,
            ),
        )
        assert cursor.lastrowid is not None
        self._legs[start.call_sid] = cursor.lastrowid

    def _leg(self, call_sid: str) -> int:
        leg = self._legs.get(call_sid)
        if leg is None:
            raise KeyError(f"no leg of call {call_sid} in progress")
        return leg

    def turn(self, call_sid: str, turn: Turn) -> None:
        shown = turn.heard_text
        self._run(
            "INSERT INTO leg_turns (leg_id, call_sid, seq, at, speaker, text, heard_text,"
            " interrupted, sent_ms, heard_ms, end_reason, waiting_for_input, status)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                self._leg(call_sid),
                call_sid,
                turn.seq,
                time.time(),
                turn.speaker,
                turn.text,
                shown,
                int(turn.interrupted),
                turn.sent_ms,
                turn.heard_ms,
                turn.end_reason,
                int(turn.waiting_for_input),
                turn.status,
            ),
        )

    def recovery(self, call_sid: str, cause: str, step: str, silent_s: float) -> None:
        """A dead-air recovery step (``step`` nudge, resume, seed, apology) or, with step
        ``recovered``, the end of one; ``silent_s``: the dead air the caller had heard."""
        self._run(
            "INSERT INTO leg_recoveries VALUES (?, ?, ?, ?, ?, ?)",
            (self._leg(call_sid), call_sid, time.time(), cause, step, silent_s),
        )

    def turn_heard(self, call_sid: str, turn: Turn) -> None:
        """An agent turn recorded while still playing: its final ``heard_ms``."""
        self._run(
            "UPDATE leg_turns SET heard_ms=?, heard_text=? WHERE leg_id=? AND seq=?",
            (
                turn.heard_ms,
                heard_text(turn.text, turn.heard_ms, turn.sent_ms),
                self._leg(call_sid),
                turn.seq,
            ),
        )

    def call_ended(self, end: CallEnd) -> None:
        self._run(
            "UPDATE legs SET ended_at=?, duration_s=?, outcome=?, reason=?, reconnects=?,"
            " switches=?, tokens=?, tool_calls=?, interruptions=?, dead_air=? WHERE id=?",
            (
                time.time(),
                end.duration_s,
                end.outcome.value,
                end.reason,
                end.reconnects,
                end.switches,
                end.tokens,
                end.tool_calls,
                end.interruptions,
                end.dead_air,
                self._legs.pop(end.call_sid, None) or self._leg(end.call_sid),
            ),
        )

    def recent(self, last: int = 20) -> list[dict[str, Any]]:
        """The latest legs, newest first."""
        rows = self._run(
            f"SELECT {SHOWN} FROM legs ORDER BY started_at DESC, id DESC LIMIT ?", (last,)
        ).fetchall()
        return [dict(row) for row in rows]

    def get(self, call_sid: str) -> dict[str, Any] | None:
        """The call's latest leg with its transcript (``leg`` counts from 1)."""
        row = self._run(
            f"SELECT id, {SHOWN} FROM legs WHERE call_sid=? ORDER BY leg DESC LIMIT 1",
            (call_sid,),
        ).fetchone()
        if row is None:
            return None
        turns = self._run(
            "SELECT speaker, text, heard_text, interrupted, sent_ms, heard_ms, at, end_reason,"
            " waiting_for_input, status FROM leg_turns WHERE leg_id=? ORDER BY seq",
            (row["id"],),
        ).fetchall()
        recoveries = self._run(
            "SELECT at, cause, step, silent_s FROM leg_recoveries WHERE leg_id=? ORDER BY rowid",
            (row["id"],),
        ).fetchall()
        record = dict(row)
        del record["id"]
        return {
            **record,
            "turns": [dict(t) for t in turns],
            "recoveries": [dict(r) for r in recoveries],
        }

    def close(self) -> None:
        with self._lock:
            self._db.close()


class RecordsSink:
    """A call's reports into its record, written on the disk writer's thread."""

    name = "call record"

    def __init__(self, records: CallRecords, writer: DiskWriter, failed: OnError) -> None:
        self._records = records
        self._writer = writer
        self._failed = failed
        self._call_sid = ""

    def report(self, report: Report) -> None:
        records = self._records
        if isinstance(report, CallBegan):
            self._call_sid = report.start.call_sid
            self._submit(lambda: records.call_started(report.start))
        elif not self._call_sid:
            return  # not a call (refused, or never started): no record
        elif isinstance(report, TurnRecorded):
            call_sid = self._call_sid
            self._submit(lambda: records.turn(call_sid, report.turn))
        elif isinstance(report, TurnHeard):
            call_sid = self._call_sid
            self._submit(lambda: records.turn_heard(call_sid, report.turn))
        elif isinstance(report, (DeadAirStep, DeadAirRecovered)):
            call_sid = self._call_sid
            step = report.step if isinstance(report, DeadAirStep) else "recovered"
            cause, silent = report.cause, report.silent_s
            self._submit(lambda: records.recovery(call_sid, cause, step, silent))
        elif isinstance(report, CallEnded) and report.admitted:
            self._submit(lambda: records.call_ended(report.end))

    def _submit(self, work: Callable[[], object]) -> None:
        self._writer.submit(work, self._failed)

    async def close(self) -> None:
        if not await self._writer.drain(SETTLE_TIMEOUT_S) and self._call_sid:
            log.warning(
                "call %s: its record is still being written (the disk or database is slow);"
                " the call ends without waiting",
                self._call_sid,
            )


def format_call(record: dict[str, Any], *, with_turns: bool) -> str:
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(record["started_at"] or 0))
    duration = f"{record['duration_s']:.0f} s" if record.get("duration_s") is not None else "live"
    head = (
        f"{record['call_sid']}  {started}  {duration:>6}  {record.get('outcome') or 'in progress'}"
        f"  {record.get('caller') or '?'} → {record.get('called') or '?'}"
        f"  reconnects {record.get('reconnects', 0)}  tokens {record.get('tokens', 0)}"
        f"  tools {record.get('tool_calls', 0)}"
        + (f"  dead air {record['dead_air']}" if record.get("dead_air") else "")
    )
    if not with_turns:
        return head
    lines = [head]
    for turn in record.get("turns", []):
        mark = " (interrupted)" if turn["interrupted"] else ""
        ended = turn.get("end_reason") or (
            "waiting for input" if turn.get("waiting_for_input") else ""
        )
        mark += f" ({ended})" if ended else ""
        lines.append(f"  {turn['speaker']:>6}{mark}: {turn['heard_text']}")
    for step in record.get("recoveries", []):
        lines.append(f"  dead air ({step['cause']}, {step['silent_s']:.1f} s): {step['step']}")
    return "\n".join(lines)


def as_json(record: dict[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=False)
