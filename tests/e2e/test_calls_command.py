"""`python -m app calls` as an operator runs it: from any directory (the records named
by --env-file or --db, or their absolute path said when there are none), with only
CALL_RECORDS_PATH needed, and saying when one CallSid has several legs."""

from __future__ import annotations

from pathlib import Path

from app.call.outcome import Outcome
from app.call.record import CallEnd, CallStart, Turn
from app.sinks.records import CallRecords
from tests.support.process import run_app
from tests.support.server import process_env

CALL = "CA" + "3c" * 16


def two_legs(path: Path) -> None:
    """One CallSid that reached the bot twice: the first leg failed, the second completed."""
    records = CallRecords(path)
    for outcome, words in ((Outcome.AGENT_FAILED, "first"), (Outcome.COMPLETED, "second")):
        records.call_started(
            CallStart(CALL, "MZ" + "1" * 32, "+15550100001", "+15550100002", "inbound")
        )
        records.turn(CALL, Turn(1, "caller", f"the {words} time"))
        records.call_ended(CallEnd(CALL, 3.0, outcome, "", 0, 0, 0, 0, 0))
    records.close()


async def test_calls_reads_only_where_the_records_are(tmp_path: Path) -> None:
    server_dir, elsewhere = tmp_path / "srv", tmp_path / "home"
    server_dir.mkdir()
    elsewhere.mkdir()
    two_legs(server_dir / "records.sqlite3")
    # The server's .env: the records' path, and settings that could not serve (no key,
    # a bad temperature): `calls` needs none of them.
    env_file = server_dir / ".env"
    env_file.write_text(f"CALL_RECORDS_PATH={server_dir / 'records.sqlite3'}\nTEMPERATURE=9\n")
    env = process_env(HOME=str(tmp_path))
    listed = await run_app(elsewhere, env, "calls", "--env-file", str(env_file))
    assert listed.code == 0, listed
    lines = listed.stdout.splitlines()
    assert len(lines) == 2 and lines[0].startswith(CALL) and lines[0].endswith("  leg 2")
    assert not lines[1].endswith("leg 1")
    one = await run_app(elsewhere, env, "calls", CALL, "--db", str(server_dir / "records.sqlite3"))
    assert one.code == 0, one
    first, record, turn = one.stdout.splitlines()
    assert first == (
        f"call {CALL} has 2 legs (the same CallSid reached the bot 2 times: replays, or a call"
        " sent back to it); this is leg 2, the latest: --leg 1 … --leg 2 shows each"
    )
    assert " completed " in record and turn.endswith("caller: the second time")
    leg1 = await run_app(elsewhere, env, "calls", CALL, "--leg", "1", "--env-file", str(env_file))
    assert "agent_failed" in leg1.stdout and leg1.stdout.endswith("caller: the first time\n")
    assert "this is leg 1:" in leg1.stdout
    leg3 = await run_app(elsewhere, env, "calls", CALL, "--leg", "3", "--env-file", str(env_file))
    assert (leg3.code, leg3.stdout) == (
        1,
        f"no leg 3 of call {CALL} in {server_dir / 'records.sqlite3'} (it has 2)\n",
    )


async def test_no_records_names_the_absolute_path_looked_in(tmp_path: Path) -> None:
    env = process_env(HOME=str(tmp_path))
    ran = await run_app(tmp_path, env, "calls")
    assert (ran.code, ran.stdout) == (
        1,
        f"no call records at {tmp_path / 'calls.sqlite3'} (CALL_RECORDS_PATH='calls.sqlite3',"
        f" read from the environment only (there is no {tmp_path / '.env'}), relative to"
        f" {tmp_path}). Run this where the server runs, or name the server's settings with"
        " --env-file, or the database with --db.\n",
    )
    off = await run_app(tmp_path, {**env, "CALL_RECORDS_PATH": ""}, "calls")
    assert off.stdout.startswith("call records are off (CALL_RECORDS_PATH='', read from")
    unknown = await run_app(tmp_path, env, "calls", "--db", str(tmp_path / "x.db"), CALL)
    assert unknown.stdout.startswith(f"no call records at {tmp_path / 'x.db'} (given with --db)")
