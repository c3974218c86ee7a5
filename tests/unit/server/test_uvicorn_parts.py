"""uvicorn's private parts that app/server/serve.py builds on are still there and still
behave as it expects. pyproject.toml bounds uvicorn below its next untested release;
when a lock update moves past that, these fail first, naming the part that moved."""

from __future__ import annotations

import asyncio
import signal

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


async def test_the_protocol_holds_its_connection_transport_loop_and_peer() -> None:
    loop = asyncio.get_running_loop()
    protocol = H11Protocol(config(), ServerState(), {}, loop)
    made = asyncio.Event()

    def factory() -> H11Protocol:
        made.set()
        return protocol

    listener = await loop.create_server(factory, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        await asyncio.wait_for(made.wait(), 5)
        await asyncio.sleep(0)
        assert isinstance(protocol.conn, h11.Connection)
        assert protocol.transport is not None and protocol.loop is loop
        assert protocol.client == ("127.0.0.1", writer.get_extra_info("sockname")[1])
        assert protocol.conn.their_state is h11.IDLE
    finally:
        writer.close()
        listener.close()


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
