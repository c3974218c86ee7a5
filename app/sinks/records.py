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

import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
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
from app.call.outcome import Outcome
from app.call.record import CallEnd, CallStart, Turn, heard_text
from app.sinks.writer import SETTLE_TIMEOUT_S, DiskWriter, OnError
from app.text import printable_values

log = logging.getLogger(__name__)

# heard_text lives with the records it cuts (app/call/record.py); named here as before.
__all__ = ["CallRecords", "RecordStore", "RecordsSink", "format_call", "heard_text"]

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


def schema(row_id: str, real: str) -> str:
    """The tables, in a dialect: SQLite's (INTEGER PRIMARY KEY AUTOINCREMENT, REAL) or
    PostgreSQL's (BIGSERIAL PRIMARY KEY, DOUBLE PRECISION: REAL is 4 bytes there)."""
    return f"""
CREATE TABLE IF NOT EXISTS legs (
    id {row_id}, {CALL_COLUMNS.replace("REAL", real)}, leg INTEGER NOT NULL DEFAULT 1,
    UNIQUE (call_sid, leg)
);
CREATE TABLE IF NOT EXISTS leg_turns (
    leg_id INTEGER REFERENCES legs (id), call_sid TEXT, {TURN_COLUMNS.replace("REAL", real)},
    PRIMARY KEY (leg_id, seq)
);
"""


SCHEMA = schema("INTEGER PRIMARY KEY AUTOINCREMENT", "REAL")
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


@dataclass(frozen=True)
class Migration:
    """One step of the schema, in each dialect; applied once, in order, recorded in
    ``schema_version`` (a database made before versions existed starts at 0: every
    step is written to apply cleanly to it)."""

    version: int
    what: str
    sqlite: str
    postgres: str


LEGS_BY_START = "CREATE INDEX IF NOT EXISTS legs_started ON legs (started_at);"


def dead_air(row_id: str, real: str) -> str:
    """How each turn ended (Gemini 3.8's turnCompleteReason, waitingForInput,
    interactionStatus), each leg's dead-air episodes, and each recovery step."""
    return f"""
ALTER TABLE legs ADD COLUMN dead_air INTEGER DEFAULT 0;
ALTER TABLE leg_turns ADD COLUMN end_reason TEXT DEFAULT '';
ALTER TABLE leg_turns ADD COLUMN waiting_for_input INTEGER DEFAULT 0;
ALTER TABLE leg_turns ADD COLUMN status TEXT DEFAULT '';
CREATE TABLE IF NOT EXISTS leg_recoveries (
    id {row_id}, leg_id INTEGER REFERENCES legs (id), call_sid TEXT, at {real}, cause TEXT,
    step TEXT, silent_s {real}
);
"""


MIGRATIONS = (
    Migration(
        1, "call legs and their turns", SCHEMA, schema("BIGSERIAL PRIMARY KEY", "DOUBLE PRECISION")
    ),
    Migration(2, "the newest calls first, without a scan", LEGS_BY_START, LEGS_BY_START),
    Migration(
        3,
        "dead air: how turns ended, and the recovery steps",
        dead_air("INTEGER PRIMARY KEY AUTOINCREMENT", "REAL"),
        dead_air("BIGSERIAL PRIMARY KEY", "DOUBLE PRECISION"),
    ),
)
VERSION_TABLE = "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)"


SHOWN = (
    "call_sid, leg, stream_sid, caller, called, direction, started_at, ended_at, duration_s,"
    " outcome, reason, reconnects, switches, tokens, tool_calls, interruptions, dead_air"
)


class RecordStore:
    """Call records in a SQL database: the queries, the same for SQLite and PostgreSQL.

    A subclass runs one statement at a time (``_run``) and inserts a leg (``_insert_leg``,
    returning its row id). Writes come from the disk writer's thread, reads from the
    operator API's (one at a time, under the subclass's lock)."""

    def __init__(self) -> None:
        self._legs: dict[str, int] = {}  # CallSid -> its leg in progress (row id), here

    def _run(self, sql: str, values: tuple[object, ...]) -> Any:
        raise NotImplementedError

    def _insert_leg(self, sql: str, values: tuple[object, ...]) -> int:
        raise NotImplementedError

    def call_started(self, start: CallStart, now: float | None = None) -> None:
        """A new leg of the call; an earlier leg with the same CallSid is kept."""
        self._legs[start.call_sid] = self._insert_leg(
            "INSERT INTO legs (call_sid, stream_sid, caller, called, direction, started_at,"
            " leg) VALUES (?, ?, ?, ?, ?, ?,"
            " (SELECT COALESCE(MAX(leg), 0) + 1 FROM legs WHERE call_sid = ?))",
            (
                start.call_sid,
                start.stream_sid,
                start.caller,
                start.called,
                start.direction,
                time.time() if now is None else now,
                start.call_sid,
            ),
        )

    def known(self, call_sid: str) -> bool:
        """Has a stream of this call ever started? (Kept as long as the records; with a
        database every process shares, fleet-wide.)"""
        found = self._run("SELECT 1 FROM legs WHERE call_sid = ? LIMIT 1", (call_sid,))
        return found.fetchone() is not None

    def _leg(self, call_sid: str) -> int:
        leg = self._legs.get(call_sid)
        if leg is None:
            raise KeyError(f"no leg of call {call_sid} in progress")
        return leg

    def turn(self, call_sid: str, turn: Turn, now: float | None = None) -> None:
        self._run(
            "INSERT INTO leg_turns (leg_id, call_sid, seq, at, speaker, text, heard_text,"
            " interrupted, sent_ms, heard_ms, end_reason, waiting_for_input, status)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                self._leg(call_sid),
                call_sid,
                turn.seq,
                time.time() if now is None else now,
                turn.speaker,
                turn.text,
                turn.heard_text,
                int(turn.interrupted),
                turn.sent_ms,
                turn.heard_ms,
                turn.end_reason,
                int(turn.waiting_for_input),
                turn.status,
            ),
        )

    def recovery(
        self, call_sid: str, cause: str, step: str, silent_s: float, now: float | None = None
    ) -> None:
        """A dead-air recovery step (``step`` nudge, resume, seed, apology) or, with step
        ``recovered``, the end of one; ``silent_s``: the dead air the caller had heard."""
        self._run(
            "INSERT INTO leg_recoveries (leg_id, call_sid, at, cause, step, silent_s)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (
                self._leg(call_sid),
                call_sid,
                time.time() if now is None else now,
                cause,
                step,
                silent_s,
            ),
        )

    def turn_heard(self, call_sid: str, turn: Turn, now: float | None = None) -> None:
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

    def call_ended(self, end: CallEnd, now: float | None = None) -> None:
        self._run(
            "UPDATE legs SET ended_at=?, duration_s=?, outcome=?, reason=?, reconnects=?,"
            " switches=?, tokens=?, tool_calls=?, interruptions=?, dead_air=? WHERE id=?",
            (
                time.time() if now is None else now,
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

    def orphaned(self, call_sid: str, reason: str, now: float | None = None) -> None:
        """The call's process died mid-call (another process found it out): its open leg
        is closed as failed, with the reason. A leg already closed is left alone."""
        now = time.time() if now is None else now
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

    def get(self, call_sid: str, leg: int | None = None) -> dict[str, Any] | None:
        """The call's latest leg (or leg ``leg``, counting from 1) with its transcript."""
        row = self._run(
            # COALESCE, not "? IS NULL": PostgreSQL must know a parameter's type
            f"SELECT id, {SHOWN} FROM legs WHERE call_sid=? AND leg=COALESCE(?, leg)"
            " ORDER BY leg DESC LIMIT 1",
            (call_sid, leg),
        ).fetchone()
        if row is None:
            return None
        turns = self._run(
            "SELECT speaker, text, heard_text, interrupted, sent_ms, heard_ms, at, end_reason,"
            " waiting_for_input, status FROM leg_turns WHERE leg_id=? ORDER BY seq",
            (row["id"],),
        ).fetchall()
        recoveries = self._run(
            "SELECT at, cause, step, silent_s FROM leg_recoveries WHERE leg_id=? ORDER BY id",
            (row["id"],),
        ).fetchall()
        record = dict(row)
        del record["id"]
        return {
            **record,
            "turns": [dict(t) for t in turns],
            "recoveries": [dict(r) for r in recoveries],
        }

    def legs(self, call_sid: str) -> int:
        """How many legs the CallSid has (replays, or a call redirected back to the bot)."""
        row = self._run("SELECT COUNT(*) AS n FROM legs WHERE call_sid=?", (call_sid,)).fetchone()
        return int(row["n"])

    def backlog(self) -> int:
        """Writes kept until the database is back (none for a local file)."""
        return 0

    def retry(self) -> None:
        """Write what was kept, if the database is back."""

    def close(self) -> None:
        raise NotImplementedError


class CallRecords(RecordStore):
    """Call records in one SQLite file (one host: its processes may share the file).
    One connection, used one statement at a time."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        self._lock = threading.Lock()
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._migrate()

    def _migrate(self) -> None:
        db = self._db
        db.execute("BEGIN IMMEDIATE")  # one process migrates; the others wait, then see it
        try:
            db.execute(VERSION_TABLE)
            version = db.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] or 0
            for step in MIGRATIONS:
                if step.version > version:
                    for statement in filter(str.strip, step.sqlite.split(";")):
                        db.execute(statement)
                    if (
                        step.version == 1
                        and db.execute("SELECT 1 FROM sqlite_master WHERE name='calls'").fetchone()
                    ):
                        for statement in filter(str.strip, MIGRATE_V1.split(";")):
                            db.execute(statement)
                    db.execute("INSERT INTO schema_version VALUES (?)", (step.version,))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def _run(self, sql: str, values: tuple[object, ...]) -> sqlite3.Cursor:
        with self._lock:
            return self._db.execute(sql, values)

    def _insert_leg(self, sql: str, values: tuple[object, ...]) -> int:
        cursor = self._run(sql, values)
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def close(self) -> None:
        with self._lock:
            self._db.close()


class RecordsSink:
    """A call's reports into its record, written on the disk writer's thread."""

    name = "call record"

    def __init__(self, records: RecordStore, writer: DiskWriter, failed: OnError) -> None:
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
    """One call for a terminal; what the caller, Twilio or the model chose is made
    printable (app/text.py: no escape sequence reaches the operator's terminal)."""
    record = printable_values(record)  # type: ignore[assignment]
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(record["started_at"] or 0))
    duration = f"{record['duration_s']:.0f} s" if record.get("duration_s") is not None else "live"
    head = (
        f"{record['call_sid']}  {started}  {duration:>6}  {record.get('outcome') or 'in progress'}"
        f"  {record.get('caller') or '?'} → {record.get('called') or '?'}"
        f"  reconnects {record.get('reconnects', 0)}  tokens {record.get('tokens', 0)}"
        f"  tools {record.get('tool_calls', 0)}"
        + (f"  leg {record['leg']}" if (record.get("leg") or 1) > 1 else "")
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
