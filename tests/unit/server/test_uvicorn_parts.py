"""uvicorn's private parts that app/server/serve.py builds on are still there and still
behave as it expects. pyproject.toml bounds uvicorn below its next untested release;
when a lock update moves past that, these fail first, naming the part that moved."""

from __future__ import annotations

import asyncio
import signal
import socket

import h11
import pytest
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

from app.errors import IncompatibleDependency
from app.server import serve as serving
from app.server.serve import uvicorn_parts_moved
from app.settings import Settings


async def nothing(scope: object, receive: object, send: object) -> None:
    """An ASGI app that is never called."""


def config() -> uvicorn.Config:
    return uvicorn.Config(app=nothing, log_config=None)


def test_nothing_has_moved() -> None:
    assert uvicorn_parts_moved() == [], f"uvicorn {uvicorn.__version__}"


def test_captured_signals_are_what_handle_exit_keeps() -> None:
    server = uvicorn.Server(config())
    assert server._captured_signals == []
    server.handle_exit(signal.SIGTERM, None)
    assert server._captured_signals == [signal.SIGTERM], f"uvicorn {uvicorn.__version__}"
    assert server.should_exit


async def test_the_protocol_holds_its_connection_transport_and_loop() -> None:
    loop = asyncio.get_running_loop()
    protocol = H11Protocol(config(), ServerState(), {}, loop)
    server, client = socket.socketpair()
    try:
        transport, _ = await loop.create_connection(lambda: protocol, sock=server)
        assert isinstance(protocol.conn, h11.Connection)
        assert protocol.transport is transport
        assert protocol.loop is loop
        assert protocol.conn.their_state is h11.IDLE
        transport.close()
    finally:
        client.close()


def test_a_moved_part_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(uvicorn.Server, "_serve")
    assert uvicorn_parts_moved() == [
        "Server._serve(sockets), what runs between startup and shutdown"
    ]


def test_serving_refuses_with_the_part_named(monkeypatch: pytest.MonkeyPatch) -> None:
    async def _serve(self: uvicorn.Server) -> None:  # the sockets parameter is gone
        """A release whose _serve lost its parameter."""

    monkeypatch.setattr(uvicorn.Server, "_serve", _serve)
    settings = Settings(_env_file=None, agent="echo", allow_unsigned_requests=True)  # type: ignore[call-arg]
    with pytest.raises(
        IncompatibleDependency, match=r"uvicorn [0-9.]+ changed .*\(Server\._serve\(sockets\)"
    ):
        serving.serve(None, settings, None)  # type: ignore[arg-type]
