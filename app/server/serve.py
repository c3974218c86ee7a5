"""Serving the app with uvicorn, draining calls politely on SIGTERM."""

from __future__ import annotations

import asyncio
import socket
from types import FrameType

import uvicorn
from starlette.applications import Starlette

from app.server.media import WS_MAX_SIZE
from app.server.switchboard import Switchboard
from app.settings import ConfigError, Settings


class DrainingServer(uvicorn.Server):
    """On the first SIGTERM/SIGINT, refuse new calls and let calls in progress end
    politely (up to the drain timeout) before uvicorn shuts down. A second signal
    stops at once."""

    def __init__(self, config: uvicorn.Config, board: Switchboard, drain_s: float) -> None:
        super().__init__(config)
        self._board = board
        self._drain_s = drain_s
        self._loop: asyncio.AbstractEventLoop | None = None
        self._drain_task: asyncio.Task[None] | None = None

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        await super().serve(sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self._drain_task is not None or self._loop is None or not self._board.active:
            super().handle_exit(sig, frame)
            if not self._board.active:
                self._board.draining = True
            return
        self._loop.call_soon_threadsafe(self._start_drain, sig, frame)

    def _start_drain(self, sig: int, frame: FrameType | None) -> None:
        async def drain_then_exit() -> None:
            await self._board.drain(self._drain_s)
            super(DrainingServer, self).handle_exit(sig, frame)

        self._drain_task = asyncio.get_running_loop().create_task(drain_then_exit())


def listen(host: str, port: int) -> socket.socket:
    """The listening socket, bound now so a taken port or unknown host is one sentence."""
    try:
        return socket.create_server(
            (host.removeprefix("[").removesuffix("]"), port),
            family=socket.AF_INET6 if ":" in host else socket.AF_INET,
            reuse_port=False,
        )
    except OSError as error:
        raise ConfigError(
            f"cannot listen on HOST={host} PORT={port} ({error.strerror or error}): choose"
            " a free port, or a HOST this machine has (0.0.0.0 for every interface)."
        ) from None


def serve(app: Starlette, settings: Settings, sock: socket.socket) -> None:
    config = uvicorn.Config(
        app,
        proxy_headers=True,
        forwarded_allow_ips="*",
        ws_max_size=WS_MAX_SIZE,
        ws_per_message_deflate=False,  # Twilio does not compress; never spend CPU on it
        log_config=None,
        log_level=settings.log_level,
    )
    DrainingServer(config, app.state.board, settings.shutdown_drain_seconds).run(sockets=[sock])
