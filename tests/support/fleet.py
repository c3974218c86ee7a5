"""A fleet on loopback: N `python -m app` processes sharing a real Redis, a real
PostgreSQL database and a recordings folder, behind the test proxy (which can be told
where each next connection goes, so a call's webhook, stream and <Connect action> land
on chosen processes)."""

from __future__ import annotations

import contextlib
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from app.telephony.emulator import TwilioEmulator
from tests.support.gemini_standin import GeminiStandIn
from tests.support.process import AppProcess, app_process
from tests.support.proxy import Proxy
from tests.support.server import AUTH_TOKEN, PUBLIC_URL, free_port, standin_env
from tests.support.stores import RedisServer

OPERATOR = "fleet-operator-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {OPERATOR}"}
TARGET = "+15551230009"


@dataclass
class Fleet:
    processes: list[AppProcess]
    proxy: Proxy
    redis: RedisServer
    recordings: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.proxy.port}"

    def twilio(self) -> TwilioEmulator:
        return TwilioEmulator(self.base, PUBLIC_URL, AUTH_TOKEN)

    def on(self, *indices: int) -> TwilioEmulator:
        """The next connections go to these processes, in order."""
        self.proxy.route.extend(indices)
        return self.twilio()

    async def request(self, index: int, method: str, path: str, **options: Any) -> httpx.Response:
        """An operator request through the proxy, to process ``index``."""
        self.proxy.route.append(index)
        async with httpx.AsyncClient(timeout=20) as http:  # a new connection
            return await http.request(method, self.base + path, headers=AUTH, **options)

    async def active(self, index: int) -> int:
        async with httpx.AsyncClient() as http:
            body = (await http.get(self.processes[index].base + "/healthz")).json()
        return int(body["active_calls"])


def tags(twiml: str) -> list[str]:
    return [element.tag for element in ET.fromstring(twiml)]


@asynccontextmanager
async def running_fleet(
    standin: GeminiStandIn,
    directory: Path,
    redis: RedisServer,
    database_url: str,
    count: int = 3,
    **env: str,
) -> AsyncIterator[Fleet]:
    recordings = directory / "recordings"
    recordings.mkdir(exist_ok=True)
    async with contextlib.AsyncExitStack() as stack:
        processes = []
        for index in range(count):
            port = free_port()
            home = directory / f"p{index}"
            home.mkdir(exist_ok=True)
            values = standin_env(
                standin,
                port,
                REDIS_URL=redis.url,
                DATABASE_URL=database_url,
                RECORDINGS_DIR=str(recordings),
                OPERATOR_TOKEN=OPERATOR,
                TRANSFER_TARGETS=f"desk={TARGET}",
                FLEET_LEASE_SECONDS="1",
                **env,
            )
            processes.append(await stack.enter_async_context(app_process(values, home, port)))
        proxy = await stack.enter_async_context(Proxy([("127.0.0.1", p.port) for p in processes]))
        yield Fleet(processes, proxy, redis, recordings)
