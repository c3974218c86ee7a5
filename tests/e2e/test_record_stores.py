"""Call records in SQLite and in a real PostgreSQL: the same answers from the same
writes, versioned migrations, an orphan closed as failed, and PostgreSQL stopped under
the writes (kept, written when it is back; beyond the backlog, counted as lost)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from app.call.outcome import Outcome
from app.call.record import CallEnd, CallStart, Speaker, Turn
from app.errors import ConfigError, RegistryUnavailable
from app.sinks.postgres import PostgresRecords
from app.sinks.records import MIGRATIONS, CallRecords, RecordStore
from tests.support.server import process_env
from tests.support.stores import PostgresServer

A, B = "CA" + "a" * 32, "CA" + "b" * 32


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RecordStore]:
    if request.param == "sqlite":
        made: RecordStore = CallRecords(tmp_path / "calls.sqlite3")
    else:
        made = PostgresRecords(request.getfixturevalue("database_url"))
    yield made
    made.close()


def start(call_sid: str) -> CallStart:
    return CallStart(call_sid, "MZ" + "0" * 32, "+15550001111", "+15550002222", "inbound")


def end(call_sid: str, outcome: Outcome = Outcome.COMPLETED) -> CallEnd:
    return CallEnd(call_sid, 12.5, outcome, "caller hung up", 1, 0, 42, 1, 2)


def turn(seq: int, speaker: Speaker, text: str, heard_ms: float = 1000.0) -> Turn:
    return Turn(seq, speaker, text, interrupted=heard_ms < 1000, sent_ms=1000, heard_ms=heard_ms)


def test_both_stores_answer_alike(store: RecordStore) -> None:
    assert not store.known(A)
    store.call_started(start(A), now=100.0)
    store.turn(A, turn(0, "caller", "hello"), now=101.0)
    store.turn(A, turn(1, "agent", "one two three four", heard_ms=500), now=102.0)
    store.turn_heard(A, turn(1, "agent", "one two three four", heard_ms=500))
    store.call_ended(end(A), now=112.5)
    store.call_started(start(A), now=200.0)  # the CallSid back: a second leg
    store.call_started(start(B), now=300.0)
    assert store.known(A) and store.known(B)
    first = store.recent(1)[0]
    assert (first["call_sid"], first["leg"], first["outcome"]) == (B, 1, None)
    record = store.get(A)
    assert record is not None and record["leg"] == 2
    store.orphaned(A, "orphaned: the process holding the call (p1) stopped", now=210.0)
    store.orphaned(B, "never", now=310.0)
    closed = store.get(A)
    assert closed is not None
    assert (closed["outcome"], closed["reason"], closed["duration_s"]) == (
        "internal_error",
        "orphaned: the process holding the call (p1) stopped",
        10.0,
    )
    legs = [(r["call_sid"], r["leg"], r["outcome"]) for r in store.recent(10)]
    assert legs == [(B, 1, "internal_error"), (A, 2, "internal_error"), (A, 1, "completed")]


def test_the_transcript_reads_the_same(store: RecordStore) -> None:
    store.call_started(start(A), now=100.0)
    store.turn(A, turn(0, "caller", "hello"), now=101.0)
    store.turn(A, turn(1, "agent", "one two three four", heard_ms=500), now=102.0)
    store.call_ended(end(A), now=112.5)
    record = store.get(A)
    assert record is not None
    assert [(t["speaker"], t["heard_text"], t["interrupted"]) for t in record["turns"]] == [
        ("caller", "hello", 0),
        ("agent", "one two…", 1),
    ]
    assert (record["duration_s"], record["tokens"], record["reconnects"]) == (12.5, 42, 1)


def test_migrations_are_versioned_and_run_once(database_url: str, tmp_path: Path) -> None:
    versions = [m.version for m in MIGRATIONS]
    for _ in range(2):  # a second process (or a restart) finds them done
        PostgresRecords(database_url).close()
        CallRecords(tmp_path / "c.sqlite3").close()
    with psycopg.connect(database_url) as db:
        rows = db.execute("SELECT version FROM schema_version ORDER BY version").fetchall()
    assert [r[0] for r in rows] == versions
    import sqlite3

    with sqlite3.connect(tmp_path / "c.sqlite3") as db:
        rows = db.execute("SELECT version FROM schema_version ORDER BY version").fetchall()
    assert [r[0] for r in rows] == versions


def test_an_unreachable_database_url_is_one_sentence_without_the_password() -> None:
    with pytest.raises(ConfigError) as refused:
        PostgresRecords("postgresql://bot:hunter22@127.0.0.1:1/calls")
    message = str(refused.value)
    assert message.startswith("DATABASE_URL=postgresql://bot:***@127.0.0.1:1/calls cannot be used")
    assert "hunter22" not in message


def test_postgres_down_keeps_the_writes_and_writes_them_when_back(
    postgres_server: PostgresServer | str, database_url: str
) -> None:
    if isinstance(postgres_server, str):
        pytest.skip("TEST_DATABASE_URL names a server this test cannot stop")
    lost: list[int] = []
    clock = [0.0]
    records = PostgresRecords(
        database_url, max_backlog=3, on_lost=lost.append, clock=lambda: clock[0]
    )
    records.call_started(start(A), now=100.0)
    postgres_server.stop()
    try:
        clock[0] += 5
        records.turn(A, turn(0, "caller", "kept"), now=101.0)  # the call goes on
        records.call_ended(end(A), now=112.5)
        assert records.backlog() == 2
        with pytest.raises(RegistryUnavailable, match="PostgreSQL"):
            records.get(A)
        for n in range(3):  # beyond the backlog: the oldest are dropped, counted
            clock[0] += 5
            records.call_started(start("CA" + str(n) * 32), now=120.0 + n)
        assert (records.backlog(), records.lost, lost) == (3, 2, [1, 1])
    finally:
        postgres_server.restart()
    clock[0] += 5
    records.retry()
    assert records.backlog() == 0
    assert [r["call_sid"] for r in records.recent(10)] == [
        "CA" + str(n) * 32 for n in (2, 1, 0)
    ] + [A]
    records.close()


def test_the_calls_command_reads_the_fleet_s_database(database_url: str, tmp_path: Path) -> None:
    written = PostgresRecords(database_url)  # as another process of the fleet wrote them
    written.call_started(start(A), now=100.0)
    written.call_ended(end(A), now=112.5)
    written.close()
    env = process_env(DATABASE_URL=database_url, CALL_RECORDS_PATH=str(tmp_path / "none"))
    for extra in ([], [A]):
        shown = subprocess.run(
            [sys.executable, "-m", "app", "calls", *extra],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert shown.returncode == 0, shown.stderr
        assert A in shown.stdout and "completed" in shown.stdout
