"""uvicorn serving the real app on a free loopback port, inside the test's loop."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette

from app.server.app import create_app
from app.server.media import WS_MAX_SIZE
from app.settings import Settings
from tests.support.gemini_standin import GeminiStandIn

PUBLIC_URL = "https://bot.example.com"
AUTH_TOKEN = "test-auth-token-0123456789abcdef"


def settings_for(standin: GeminiStandIn, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "gemini_api_key": standin.api_key,
        "gemini_base_url": standin.base_url,
        "ssl_cert_file": standin.ca_file,
        "twilio_auth_token": AUTH_TOKEN,
        "public_url": PUBLIC_URL,
        "greeting": "",
        "gemini_connect_timeout_s": 5.0,
        "call_records_path": "",
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def settings_for_echo(**overrides: Any) -> Settings:
    """Production-shaped settings with the echo agent (no Gemini needed)."""
    values: dict[str, Any] = {
        "agent": "echo",
        "twilio_auth_token": AUTH_TOKEN,
        "public_url": PUBLIC_URL,
        "greeting": "",
        "call_records_path": "",
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@dataclass
class RunningServer:
    app: Starlette
    base: str

    @property
    def calls(self) -> Any:
        return self.app.state.calls

    async def call_ended(self, timeout: float = 10.0) -> Any:
        """The summary of the latest finished call, once there is one."""
        async with asyncio.timeout(timeout):
            while not self.calls.recent:
                await asyncio.sleep(0.05)
        return self.calls.recent[-1]


@asynccontextmanager
async def serve_app(settings: Settings) -> AsyncIterator[RunningServer]:
    async with serve_asgi(create_app(settings)) as running:
        yield running


@asynccontextmanager
async def serve_asgi(app: Starlette) -> AsyncIterator[RunningServer]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_config=None, lifespan="on", ws_max_size=WS_MAX_SIZE)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        async with asyncio.timeout(10):
            while not server.started:
                if task.done():
                    task.result()
                await asyncio.sleep(0.01)
        yield RunningServer(app, f"http://127.0.0.1:{port}")
    finally:
        server.should_exit = True
        await task
        sock.close()


ROOT = Path(__file__).resolve().parent.parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def process_env(**values: str) -> dict[str, str]:
    """The environment for a `python -m app` process: ours, minus any real credentials."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("GEMINI_", "TWILIO_", "GOOGLE_"))
    }
    env.update(PYTHONPATH=str(ROOT), **values)
    return env


def standin_env(standin: GeminiStandIn, port: int, **values: str) -> dict[str, str]:
    """A `python -m app` process on ``port`` talking to ``standin``, signatures on."""
    return process_env(
        HOST="127.0.0.1",
        PORT=str(port),
        GEMINI_API_KEY=standin.api_key,
        GEMINI_BASE_URL=standin.base_url,
        SSL_CERT_FILE=str(standin.ca_file),
        TWILIO_AUTH_TOKEN=AUTH_TOKEN,
        PUBLIC_URL=PUBLIC_URL,
        GREETING="",
        **values,
    )
