"""Call records in SQLite, written as each call goes (a crash loses nothing).

One row per call leg (numbers, start and end, outcome, reconnects, tokens, tool
calls) and one row per turn of its transcript. A CallSid that comes back (a call
redirected to the bot again, or a replayed webhook) gets a second leg beside the
first: nothing is ever replaced. Agent turns keep what the caller actually heard: an
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

from app.call.actions import CallBegan, CallEnded, Report, TurnHeard, TurnRecorded
from app.call.outcome import Outcome
from app.call.record import CallEnd, CallStart, Turn
from app.sinks.writer import SETTLE_TIMEOUT_S, DiskWriter, OnError

log = logging.getLogger(__name__)

CALL_COLUMNS = (
    "call_sid TEXT NOT NULL, stream_sid TEXT, caller TEXT, called TEXT, direction TEXT,"
    " started_at REAL, ended_at REAL, duration_s REAL, outcome TEXT, reason TEXT,"
    " reconnects INTEGER DEFAULT 0, switches INTEGER DEFAULT 0, tokens INTEGER DEFAULT 0,"
    " tool_calls INTEGER DEFAULT 0, interruptions INTEGER DEFAULT 0"
)
TURN_COLUMNS = (
    "seq INTEGER, at REAL, speaker TEXT, text TEXT, heard_text TEXT,"
    " interrupted INTEGER, sent_ms REAL, heard_ms REAL"
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
"""
# Files written before legs existed (one row per CallSid) are moved over once.
MIGRATE_V1 = """
INSERT INTO legs (call_sid, stream_sid, caller, called, direction, started_at, ended_at,
    duration_s, outcome, reason, reconnects, switches, tokens, tool_calls, interruptions)
    SELECT call_sid, stream_sid, caller, called, direction, started_at, ended_at,
    duration_s, outcome, reason, reconnects, switches, tokens, tool_calls, interruptions
    FROM calls;
INSERT INTO leg_turns SELECT legs.id, turns.call_sid, seq, at, speaker, text, heard_text,
    interrupted, sent_ms, heard_ms FROM turns JOIN legs USING (call_sid);
DROP TABLE turns;
DROP TABLE calls;
"""


def heard_text(text: str, heard_ms: float, sent_ms: float) -> str:
    """The part of ``text`` the caller heard, if only ``heard_ms`` of ``sent_ms`` played."""
    if sent_ms <= 0 or heard_ms >= sent_ms:
        return text
    keep = int(len(text) * max(0.0, heard_ms) / sent_ms)
    cut = text[:keep]
    if keep < len(text) and " " in cut:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,.;:") + ("…" if cut else "")


SHOWN = (
    "call_sid, leg, stream_sid, caller, called, direction, started_at, ended_at, duration_s,"
    " outcome, reason, reconnects, switches, tokens, tool_calls, interruptions"
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

    def known(self, call_sid: str) -> bool:
        """Has a stream of this call ever started here? (Kept as long as the records.)"""
        found = self._run("SELECT 1 FROM legs WHERE call_sid = ? LIMIT 1", (call_sid,))
        return found.fetchone() is not None

    def _leg(self, call_sid: str) -> int:
        leg = self._legs.get(call_sid)
        if leg is None:
            raise KeyError(f"no leg of call {call_sid} in progress")
        return leg

    def turn(self, call_sid: str, turn: Turn) -> None:
        shown = (
            heard_text(turn.text, turn.heard_ms, turn.sent_ms) if turn.interrupted else turn.text
        )
        self._run(
            "INSERT INTO leg_turns VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
            ),
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
            " switches=?, tokens=?, tool_calls=?, interruptions=? WHERE id=?",
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
                self._legs.pop(end.call_sid, None) or self._leg(end.call_sid),
            ),
        )

    def orphaned(self, call_sid: str, reason: str) -> None:
        """The call's process died mid-call (another process found it out): its open leg
        is closed as failed, with the reason. A leg already closed is left alone."""
        now = time.time()
        self._run(
            "UPDATE legs SET ended_at=?, duration_s=? - started_at, outcome=?, reason=?"
            " WHERE call_sid=? AND ended_at IS NULL",
            (now, now, Outcome.INTERNAL_ERROR.value, reason, call_sid),
        )
        self._legs.pop(call_sid, None)

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
            "SELECT speaker, text, heard_text, interrupted, sent_ms, heard_ms, at FROM leg_turns"
            " WHERE leg_id=? ORDER BY seq",
            (row["id"],),
        ).fetchall()
        record = dict(row)
        del record["id"]
        return {**record, "turns": [dict(t) for t in turns]}

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
    )
    if not with_turns:
        return head
    lines = [head]
    for turn in record.get("turns", []):
        mark = " (interrupted)" if turn["interrupted"] else ""
        lines.append(f"  {turn['speaker']:>6}{mark}: {turn['heard_text']}")
    return "\n".join(lines)


def as_json(record: dict[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=False)
