"""A sink that fails cannot hurt the call: a locked call-records database, a full disk
under the recordings. The call goes on in real time, the failure is logged once and
counted, and the next call is recorded again once the disk or database is back."""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.sinks.records import CallRecords
from tests.support.calls import CALL_SID, QUESTION, REPLY, answer_question, start_call
from tests.support.gemini_standin import GeminiStandIn
from tests.support.server import serve_app, settings_for

TOKEN = "sink-test-operator-token-0123456789abcdef"
NEXT_CALL = "CA" + "7e" * 16


async def one_call(server: object, call_sid: str = CALL_SID) -> tuple[float, int, int]:
    """A question and its reply, heard in full; (seconds, bytes heard, bytes sent)."""
    began = time.monotonic()
    _, stream = await start_call(server, call_sid=call_sid)  # type: ignore[arg-type]
    await stream.replay(QUESTION, stop=False)
    await stream.wait_for(lambda: len(stream.heard) >= len(REPLY) // 6, timeout=20)
    await stream.wait_for(lambda: len(stream.marks_echoed) == stream.marks_sent, timeout=10)
    await stream.stop(call_sid)
    await stream.wait_closed(timeout=10)
    return time.monotonic() - began, len(stream.heard), len(stream.media_received)


def sink_failures(metrics: str, sink: str) -> float:
    for line in metrics.splitlines():
        if line.startswith(f'phonebot_sink_failures_total{{sink="{sink}"}}'):
            return float(line.split()[-1])
    return 0.0


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Another process's exclusive lock on the database (a backup, a migration)."""
    db = sqlite3.connect(str(path), isolation_level=None)
    db.execute("BEGIN EXCLUSIVE")
    try:
        yield
    finally:
        db.execute("ROLLBACK")
        db.close()


async def test_a_locked_records_database_does_not_hold_the_call(
    standin: GeminiStandIn, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    standin.scenario = answer_question
    path = tmp_path / "calls.sqlite3"
    settings = settings_for(standin, call_records_path=str(path), operator_token=TOKEN)
    async with serve_app(settings) as server, httpx.AsyncClient() as http:
        with locked(path):
            seconds, heard, sent = await one_call(server)
        # The whole reply played while the database was locked throughout.
        assert heard == sent >= len(REPLY) // 6
        metrics = (await http.get(server.base + "/metrics", headers=auth())).text
        assert sink_failures(metrics, "call record") >= 1
        failed = [r for r in caplog.records if "the call record failed" in r.getMessage()]
        assert len(failed) == 1 and CALL_SID in failed[0].getMessage()
        assert "database is locked" in failed[0].getMessage()
        # The database is back: the next call is recorded.
        await one_call(server, NEXT_CALL)
    records = CallRecords(path)
    record = records.get(NEXT_CALL)
    assert record is not None and record["outcome"] == "completed"
    assert [t["speaker"] for t in record["turns"]] == ["caller", "agent"]
    records.close()
    assert seconds < 15  # no five-second lock waits were spent on the call's own path


def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB file system: two seconds of a stereo recording fill it."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tiny tmpfs needs root (CI runs as root)")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)])
    if done.returncode != 0:
        pytest.skip("this machine does not let the tests mount a tmpfs")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


async def test_a_full_disk_under_the_recordings_does_not_hurt_the_call(
    standin: GeminiStandIn, tiny_disk: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    standin.scenario = answer_question
    settings = settings_for(standin, recordings_dir=str(tiny_disk), operator_token=TOKEN)
    async with serve_app(settings) as server, httpx.AsyncClient() as http:
        _, heard, sent = await one_call(server)
        assert heard == sent >= len(REPLY) // 6
        metrics = (await http.get(server.base + "/metrics", headers=auth())).text
    assert sink_failures(metrics, "recording") >= 1
    failed = [r.getMessage() for r in caplog.records if "the recording failed" in r.getMessage()]
    assert len(failed) == 1 and "No space left on device" in failed[0]
    ended = [r.getMessage() for r in caplog.records if "call ended: completed" in r.getMessage()]
    assert ended, "the call ended as a completed call"
