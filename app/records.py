"""Call records in SQLite, written as each call goes (a crash loses nothing).

One row per call (numbers, start and end, outcome, reconnects, tokens, tool calls)
and one row per turn of its transcript. Agent turns keep what the caller actually
heard: an interrupted reply's text is cut in proportion to the audio played (known
from Twilio's marks), at a word boundary.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS calls (
    call_sid TEXT PRIMARY KEY, stream_sid TEXT, caller TEXT, called TEXT, direction TEXT,
    started_at REAL, ended_at REAL, duration_s REAL, outcome TEXT, reason TEXT,
    reconnects INTEGER DEFAULT 0, switches INTEGER DEFAULT 0, tokens INTEGER DEFAULT 0,
    tool_calls INTEGER DEFAULT 0, interruptions INTEGER DEFAULT 0
);
CREATE TABLE IF NOT EXISTS turns (
    call_sid TEXT, seq INTEGER, at REAL, speaker TEXT, text TEXT, heard_text TEXT,
    interrupted INTEGER, sent_ms REAL, heard_ms REAL, PRIMARY KEY (call_sid, seq)
);
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


class CallRecords:
    """Implements :class:`app.ports.CallRecorder` over one SQLite file."""

    def __init__(self, path: Path) -> None:
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)

    def call_started(self, call_sid: str, fields: dict[str, Any]) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO calls (call_sid, stream_sid, caller, called, direction,"
            " started_at) VALUES (?, ?, ?, ?, ?, ?)",
            (
                call_sid,
                fields.get("stream_sid"),
                fields.get("caller"),
                fields.get("called"),
                fields.get("direction"),
                time.time(),
            ),
        )

    def turn(self, call_sid: str, entry: dict[str, Any]) -> None:
        seq = int(entry["seq"])  # the bridge numbers a call's turns
        text = str(entry.get("text", ""))
        sent, heard = float(entry.get("sent_ms", 0)), float(entry.get("heard_ms", 0))
        interrupted = bool(entry.get("interrupted"))
        self._db.execute(
            "INSERT OR REPLACE INTO turns VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                call_sid,
                seq,
                time.time(),
                entry.get("speaker"),
                text,
                heard_text(text, heard, sent) if interrupted else text,
                int(interrupted),
                sent,
                heard,
            ),
        )

    def turn_heard(self, call_sid: str, entry: dict[str, Any]) -> None:
        text = str(entry.get("text", ""))
        sent, heard = float(entry.get("sent_ms", 0)), float(entry.get("heard_ms", 0))
        self._db.execute(
            "UPDATE turns SET heard_ms=?, heard_text=? WHERE call_sid=? AND seq=?",
            (heard, heard_text(text, heard, sent), call_sid, int(entry["seq"])),
        )

    def call_ended(self, call_sid: str, fields: dict[str, Any]) -> None:
        self._db.execute(
            "UPDATE calls SET ended_at=?, duration_s=?, outcome=?, reason=?, reconnects=?,"
            " switches=?, tokens=?, tool_calls=?, interruptions=? WHERE call_sid=?",
            (
                time.time(),
                fields.get("duration_s"),
                fields.get("outcome"),
                fields.get("reason"),
                fields.get("reconnects", 0),
                fields.get("switches", 0),
                fields.get("tokens", 0),
                fields.get("tool_calls", 0),
                fields.get("interruptions", 0),
                call_sid,
            ),
        )

    def recent(self, last: int = 20) -> list[dict[str, Any]]:
        rows = self._db.execute(
            "SELECT * FROM calls ORDER BY started_at DESC LIMIT ?", (last,)
        ).fetchall()
        return [dict(row) for row in rows]

    def get(self, call_sid: str) -> dict[str, Any] | None:
        row = self._db.execute("SELECT * FROM calls WHERE call_sid=?", (call_sid,)).fetchone()
        if row is None:
            return None
        turns = self._db.execute(
            "SELECT speaker, text, heard_text, interrupted, sent_ms, heard_ms, at FROM turns"
            " WHERE call_sid=? ORDER BY seq",
            (call_sid,),
        ).fetchall()
        return {**dict(row), "turns": [dict(t) for t in turns]}

    def close(self) -> None:
        self._db.close()


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
