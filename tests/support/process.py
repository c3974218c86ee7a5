"""``python -m app`` as a real process on a free loopback port, its log in a file."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support.gemini_standin import GeminiStandIn
from tests.support.server import free_port, standin_env


@dataclass
class AppProcess:
    process: subprocess.Popen[bytes]
    base: str
    port: int
    log_path: Path

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    async def wait_log(self, phrase: str, timeout: float = 10.0) -> None:
        """Until ``phrase`` appears in the log (the server logs as it goes)."""
        async with asyncio.timeout(timeout):
            while phrase not in self.log:
                await asyncio.sleep(0.05)


@asynccontextmanager
async def app_process(
    env: dict[str, str], cwd: Path, port: int, *, host: str = "127.0.0.1"
) -> AsyncIterator[AppProcess]:
    """Start the server with ``env`` (which must set PORT=``port``); stop it on exit."""
    log_path = cwd / f"server-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "app"], cwd=cwd, env=env, stderr=log, stdout=log
        )
    running = AppProcess(process, f"http://{host}:{port}", port, log_path)
    try:
        async with httpx.AsyncClient() as http:
            for _ in range(200):
                try:
                    await http.get(running.base + "/healthz")
                    break
                except httpx.ConnectError:
                    if process.poll() is not None:
                        raise AssertionError("the server exited: " + running.log) from None
                    await asyncio.sleep(0.05)
            else:
                raise AssertionError("the server did not come up: " + running.log)
        yield running
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                await asyncio.to_thread(process.wait, 20)
            except subprocess.TimeoutExpired:
                process.kill()


async def start_server(
    standin: GeminiStandIn, tmp_path: Path, **extra: str
) -> tuple[subprocess.Popen[bytes], str, Path]:
    """`python -m app` talking to ``standin``, signatures on; stop it yourself."""
    port = free_port()
    env = standin_env(standin, port, **extra)
    log_path = tmp_path / "server.log"
    log = log_path.open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "app"], cwd=tmp_path, env=env, stderr=log, stdout=log
    )
    base = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient() as http:
        for _ in range(150):
            try:
                await http.get(base + "/healthz")
                return process, base, log_path
            except httpx.ConnectError:
                await asyncio.sleep(0.1)
    process.kill()
    raise AssertionError("server did not start: " + log_path.read_text())


@dataclass(frozen=True)
class Ran:
    code: int
    stdout: str
    stderr: str


async def run_app(cwd: Path, env: dict[str, str], *args: str, timeout: float = 60) -> Ran:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app",
        *args,
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(timeout):
            out, err = await process.communicate()
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    return Ran(process.returncode or 0, out.decode(), err.decode())
