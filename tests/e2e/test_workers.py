"""`python -m app` with WORKERS=2: two workers on one port sharing a real Redis, /metrics
counting both whichever answers, a worker killed and restarted, SIGTERM draining a
call politely in every worker at once (a second SIGTERM: at once); and the refusals:
WORKERS>1 without REDIS_URL, an unreachable REDIS_URL, and uvicorn --workers N."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from app.telephony.emulator import TwilioEmulator
from tests.support.calls import QUESTION, REPLY
from tests.support.gemini_standin import GeminiStandIn, answer_every_text
from tests.support.process import app_process
from tests.support.server import AUTH_TOKEN, PUBLIC_URL, free_port, process_env, standin_env
from tests.support.stores import prefix


def two_workers(standin: GeminiStandIn, port: int, redis_url: str, **values: str) -> dict[str, str]:
    values = {"CALL_RECORDS_PATH": "", **values}
    return standin_env(
        standin, port, WORKERS="2", REDIS_URL=redis_url, REDIS_KEY_PREFIX=prefix(), **values
    )


def worker_pids(log: str) -> list[int]:
    return [int(pid) for pid in re.findall(r"worker started \(pid (\d+)\)", log)]


async def test_two_workers_share_one_port_and_drain_together(
    standin: GeminiStandIn, redis_server_url: str, tmp_path: Path
) -> None:
    standin.scenario = answer_every_text(REPLY)
    port = free_port()
    env = two_workers(
        standin,
        port,
        redis_server_url,
        CALL_RECORDS_PATH=str(tmp_path / "calls.sqlite3"),  # one host: one shared file
        SHUTDOWN_DRAIN_SECONDS="20",
    )
    async with app_process(env, tmp_path, port) as server, httpx.AsyncClient() as http:
        await server.wait_log("Application startup complete", timeout=20)
        twilio = TwilioEmulator(server.base, PUBLIC_URL, AUTH_TOKEN)
        sids = ["CA" + d * 32 for d in "0123"]
        for sid in sids:  # each a new connection: the kernel spreads them
            stream = await twilio.open_stream(await twilio.incoming_call(sid))
            await stream.replay(QUESTION[:10], stop=False)
            await stream.stop(sid)
            await stream.wait_closed()
        for _ in range(6):  # whichever worker answers, the calls of both are counted
            metrics = (await http.get(server.base + "/metrics")).text
            assert 'phonebot_calls_total{outcome="completed"} 4.0' in metrics
            assert "phonebot_active_calls 0.0" in metrics
        # A worker killed: another takes its place; the port never stops answering.
        first = worker_pids(server.log)
        assert len(first) == 2
        os.kill(first[0], signal.SIGKILL)
        await server.wait_log(f"worker pid {first[0]} died (killed by SIGKILL)")
        async with asyncio.timeout(20):
            while len(worker_pids(server.log)) < 3:
                await asyncio.sleep(0.1)
        assert (await http.get(server.base + "/healthz")).status_code == 200
        # SIGTERM with a call in progress: it is ended politely (the goodbye is heard).
        live = "CA" + "9" * 32
        stream = await twilio.open_stream(await twilio.incoming_call(live))
        await stream.replay(QUESTION[:25], stop=False)
        async with asyncio.timeout(10):
            while (
                "phonebot_active_calls 1.0" not in (await http.get(server.base + "/metrics")).text
            ):
                await asyncio.sleep(0.1)
        server.process.send_signal(signal.SIGTERM)
        await stream.wait_for(lambda: len(stream.heard) >= len(REPLY) // 6, timeout=20)
        await stream.wait_closed(timeout=20)
        assert stream.closed_code == 1000
        assert await asyncio.to_thread(server.process.wait, 20) == 0
    assert "SIGTERM received, passed to 2 worker(s) (draining calls)" in server.log


async def test_a_second_signal_stops_the_workers_at_once(
    standin: GeminiStandIn, redis_server_url: str, tmp_path: Path
) -> None:
    port = free_port()  # the stand-in never answers: a drain would take its whole time
    env = two_workers(standin, port, redis_server_url, SHUTDOWN_DRAIN_SECONDS="60")
    async with app_process(env, tmp_path, port) as server:
        await server.wait_log("Application startup complete", timeout=20)
        twilio = TwilioEmulator(server.base, PUBLIC_URL, AUTH_TOKEN)
        stream = await twilio.open_stream(await twilio.incoming_call("CA" + "8" * 32))
        await stream.replay(QUESTION[:25], stop=False)
        async with asyncio.timeout(10):
            while not standin.connections:
                await asyncio.sleep(0.05)
        server.process.send_signal(signal.SIGTERM)
        await server.wait_log("draining calls")
        await asyncio.sleep(0.5)
        server.process.send_signal(signal.SIGTERM)
        status = await asyncio.to_thread(server.process.wait, 15)  # not the 60 s drain
        assert status in (0, 1)
        await stream.wait_closed(timeout=5)
    assert "stopping at once" in server.log


def refusal(env: dict[str, str], *command: str, timeout: float = 30) -> str:
    """What the command prints to stderr before it stops (or is stopped, with every
    process it started: uvicorn's supervisor restarts workers that exit)."""
    process = subprocess.Popen(
        [sys.executable, *command],
        env=env,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        _, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        _, err = process.communicate()
    return err.decode()


def dev_env(**values: str) -> dict[str, str]:
    return process_env(
        AGENT="echo",
        TWILIO_AUTH_TOKEN=AUTH_TOKEN,
        PUBLIC_URL=PUBLIC_URL,
        HOST="127.0.0.1",
        PORT=str(free_port()),
        CALL_RECORDS_PATH="",
        **values,
    )


def test_more_than_one_worker_without_redis_is_refused_with_a_sentence() -> None:
    for name in ("WORKERS", "WEB_CONCURRENCY"):
        err = refusal(dev_env(**{name: "3"}), "-m", "app")
        assert "configuration error: WORKERS=3 (or WEB_CONCURRENCY) needs REDIS_URL" in err
        assert "Traceback" not in err


def test_an_unreachable_redis_is_refused_at_startup_without_its_password() -> None:
    err = refusal(dev_env(REDIS_URL="redis://:hunter22@127.0.0.1:1/0"), "-m", "app")
    assert "configuration error: REDIS_URL=redis://:***@127.0.0.1:1/0 cannot be used" in err
    assert "hunter22" not in err and "Traceback" not in err


def test_uvicorn_workers_follow_the_same_rule(tmp_path: Path) -> None:
    env = dev_env()
    err = refusal(
        env,
        "-m", "uvicorn", "app.main:app", "--workers", "2", "--port", env["PORT"],
        timeout=8,
    )  # fmt: skip
    assert "configuration error: uvicorn --workers 2 needs REDIS_URL" in err
