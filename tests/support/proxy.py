"""A least-connections TCP proxy on loopback: two server processes behind one port.

Each client connection is pinned to one backend for its whole life, which is all a
Media Streams WebSocket needs (affinity per connection, no sticky sessions).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field


@dataclass
class Proxy:
    backends: list[tuple[str, int]]
    open: list[int] = field(default_factory=list)
    routed: list[int] = field(default_factory=list)  # backend index of each connection
    # The backends the next connections go to, in order (a test placing a call's webhook,
    # stream and <Connect action> on chosen processes); least connections once empty.
    route: list[int] = field(default_factory=list)
    port: int = 0
    _server: asyncio.Server | None = None

    async def __aenter__(self) -> Proxy:
        self.open = [0] * len(self.backends)
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        index = (
            self.route.pop(0)
            if self.route
            else min(range(len(self.backends)), key=lambda i: (self.open[i], i))
        )
        self.open[index] += 1
        self.routed.append(index)
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.backends[index])
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        finally:
            self.open[index] -= 1
            writer.close()

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            with contextlib.suppress(OSError, RuntimeError):
                writer.close()
