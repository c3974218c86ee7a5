"""Serving the app with uvicorn, draining calls politely on SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import inspect
import logging
import os
import signal
import socket
from types import FrameType

import uvicorn
from starlette.applications import Starlette
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from app.errors import ConfigError, IncompatibleDependency
from app.server.calls_here import LocalCalls
from app.server.http_guard import MAX_HEADER_BYTES, guarded_protocol
from app.server.media import WS_MAX_SIZE
from app.server.ws_guard import StallGuard
from app.settings import Settings

log = logging.getLogger(__name__)


def uvicorn_parts_moved() -> list[str]:
    """uvicorn's private parts this module builds on (pyproject bounds its version) that a
    release has moved or renamed, each named; empty when all are where they were."""
    moved = []
    serve_ = getattr(uvicorn.Server, "_serve", None)
    if (
        not inspect.iscoroutinefunction(serve_)
        or "sockets" not in inspect.signature(serve_).parameters
    ):
        moved.append("Server._serve(sockets), what runs between startup and shutdown")
    if "_captured_signals" not in uvicorn.Server.__init__.__code__.co_names:
        moved.append("Server._captured_signals, the signals it re-raises after shutdown")
    if serve_ is not None and "lifespan" not in serve_.__code__.co_names:
        moved.append("Server.lifespan, the app's lifespan a forced exit still shuts down")
    # the attributes its __init__ sets
    for name in ("conn", "transport", "loop", "client", "connections"):
        if name not in H11Protocol.__init__.__code__.co_names:
            moved.append(f"H11Protocol.{name}")
    if not callable(getattr(H11Protocol, "on_response_complete", None)):
        moved.append("H11Protocol.on_response_complete(), called when a response is sent")
    for name in ("writable", "close_timer", "disconnected", "client", "transport", "loop"):
        if name not in WebSocketsSansIOProtocol.__init__.__code__.co_names:
            moved.append(f"WebSocketsSansIOProtocol.{name}")
    if not callable(getattr(WebSocketsSansIOProtocol, "keepalive_timeout", None)):
        moved.append("WebSocketsSansIOProtocol.keepalive_timeout(), an unanswered ping")
    return moved


class DrainingServer(uvicorn.Server):
    """On the first SIGTERM/SIGINT, refuse new calls and let calls in progress end
    politely (up to the drain timeout) before uvicorn shuts down. A second signal
    stops at once (and says so the first time)."""

    def __init__(self, config: uvicorn.Config, calls: LocalCalls, drain_s: float) -> None:
        super().__init__(config)
        self._calls = calls
        self._drain_s = drain_s
        self._loop: asyncio.AbstractEventLoop | None = None
        self._drain_task: asyncio.Task[None] | None = None

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        await super().serve(sockets)

    async def _serve(self, sockets: list[socket.socket] | None = None) -> None:
        await super()._serve(sockets)
        # uvicorn re-raises the signal it caught once it has shut down, so the process
        # would end "killed by SIGTERM" (143) after a clean drain; the drain dealt with
        # it, so exit 0. (The deployment tests check the exit status.)
        self._captured_signals.clear()

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self._drain_task is not None or self.should_exit:  # a second signal
            self.force_exit = True
            calls = len(self._calls.active)
            log.warning(
                "a second signal: stopping at once%s", f", cutting {calls} call(s)" * bool(calls)
            )
        if self._drain_task is not None or self._loop is None or not self._calls.active:
            super().handle_exit(sig, frame)
            if not self._calls.active:
                self._calls.draining = True
            return
        log.warning(AGAIN_STOPS_AT_ONCE, signal.Signals(sig).name)
        self._loop.call_soon_threadsafe(self._start_drain, sig, frame)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        await super().shutdown(sockets)
        if self.force_exit:
            # uvicorn skips the app's shutdown when forced; its lifespan task would then be
            # cancelled as the loop closes and logged as an ERROR with a CancelledError
            # traceback, and the records never closed. Run it, briefly.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(FORCED_SHUTDOWN_S):
                    await self.lifespan.shutdown()

    def _start_drain(self, sig: int, frame: FrameType | None) -> None:
        async def drain_then_exit() -> None:
            await self._calls.drain(self._drain_s)
            super(DrainingServer, self).handle_exit(sig, frame)

        self._drain_task = asyncio.get_running_loop().create_task(drain_then_exit())


AGAIN_STOPS_AT_ONCE = (
    "%s: finishing the calls in progress first; press Ctrl-C again (or send the signal"
    " again) to stop at once"
)
FORCED_SHUTDOWN_S = 2.0  # what a second signal still gives the app to close its files


def listen(host: str, port: int) -> socket.socket:
    """The listening socket, bound now so a taken port or unknown host is one sentence."""
    try:
        return socket.create_server(
            (host.removeprefix("[").removesuffix("]"), port),
            family=socket.AF_INET6 if ":" in host else socket.AF_INET,
            reuse_port=False,
        )
    except OSError as error:
        code = error.errno or 0
        reason = os.strerror(code) if code > 0 else error.strerror or error  # without the address
        raise ConfigError(
            f"cannot listen on HOST={host} PORT={port} ({reason}): "
            + LISTEN_HINTS.get(code, LISTEN_HINTS[0])
        ) from None


LISTEN_HINTS = {  # by errno: what to change
    errno.EADDRINUSE: "another process listens there (this server already running?): stop it,"
    " or choose a free PORT.",
    errno.EADDRNOTAVAIL: "HOST is not an address of this machine: use 0.0.0.0 (every"
    " interface), 127.0.0.1 (this machine only) or one of its own addresses.",
    errno.EACCES: "ports below 1024 need privileges: choose a PORT from 1024 up.",
    socket.EAI_NONAME: "HOST is a name this machine cannot resolve: use an address, such as"
    " 0.0.0.0 (every interface) or 127.0.0.1 (this machine only).",
    0: "choose a free PORT, or a HOST this machine has (0.0.0.0 for every interface).",
}


def serve(app: Starlette, settings: Settings, sock: socket.socket) -> None:
    moved = uvicorn_parts_moved()
    if moved:
        raise IncompatibleDependency(
            f"uvicorn {uvicorn.__version__} changed what the server builds on"
            f" ({'; '.join(moved)}): install the locked releases (requirements/runtime.lock)"
        )
    calls = settings.max_concurrent_calls + settings.max_softphone_calls
    config = uvicorn.Config(
        app,
        http=guarded_protocol(app.state.services.pending),  # sets pending.guarded
        h11_max_incomplete_event_size=MAX_HEADER_BYTES,
        timeout_keep_alive=5,
        # Beyond this many connections at once uvicorn answers 503: room for every call's
        # stream and its webhooks, not for a flood of idle sockets (each client may hold
        # only MAX_PENDING_REQUESTS_PER_CLIENT of them waiting on it).
        limit_concurrency=2 * calls + 64,
        # The app's ProxyHeaders middleware says who the client is (TRUSTED_PROXIES);
        # uvicorn's own rule took the client-written end of X-Forwarded-For for "*".
        proxy_headers=False,
        ws=StallGuard,  # a peer that stops reading is dropped, not waited for
        ws_max_size=WS_MAX_SIZE,
        ws_per_message_deflate=False,  # Twilio does not compress; never spend CPU on it
        log_config=None,
        # None: uvicorn leaves the log levels alone. With a level, it set uvicorn.error to
        # DEBUG, where the websockets layer logs every handshake header (signatures,
        # cookies) at LOG_LEVEL=debug.
        log_level=None,
    )
    DrainingServer(config, app.state.calls, settings.shutdown_drain_seconds).run(sockets=[sock])
