"""uvicorn's WebSocket protocol, guarded against a peer that stops reading (round three's N8).

A media-stream peer that stops reading while the server has audio to send fills the
connection's write buffer (capped at the transport's limits: then every send waits);
uvicorn's protocol then waited for ever, its keepalive and closing handshake only
``close()`` the transport, which waits to flush what the peer never reads. So the
call's record said "completed" while the call still held its line. Here a send that
cannot be written within ``SEND_TIMEOUT_S``, a closing handshake not finished within
``CLOSE_TIMEOUT_S`` and an unanswered keepalive ping abort the transport: the bytes
are dropped, the connection is gone, and the call ends and frees its line.
"""

from __future__ import annotations

import asyncio
import logging

from uvicorn._types import ASGISendEvent
from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

log = logging.getLogger(__name__)

SEND_TIMEOUT_S = 5.0  # Twilio reads as fast as we write; five seconds stuck is a dead peer
CLOSE_TIMEOUT_S = 5.0
WRITE_BUFFER_BYTES = 256 * 1024  # at most this much waits for the peer (~16 s of audio)


class StallGuard(WebSocketsSansIOProtocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        if isinstance(transport, asyncio.WriteTransport):
            transport.set_write_buffer_limits(high=WRITE_BUFFER_BYTES)

    async def send(self, message: ASGISendEvent) -> None:
        if not self.writable.is_set():
            try:
                await asyncio.wait_for(self.writable.wait(), SEND_TIMEOUT_S)
            except TimeoutError:
                self._abort("the peer read nothing for %.0f s", SEND_TIMEOUT_S)
                raise ClientDisconnected from None
        await super().send(message)
        if message["type"] == "websocket.close" and self.close_timer is not None:
            self.close_timer.cancel()  # uvicorn's own close() would wait to flush
            self.close_timer = self.loop.call_later(
                CLOSE_TIMEOUT_S, self._abort, "no closing handshake within %.0f s", CLOSE_TIMEOUT_S
            )

    def keepalive_timeout(self) -> None:
        super().keepalive_timeout()
        self.loop.call_later(CLOSE_TIMEOUT_S, self._abort, "keepalive ping unanswered")

    def _abort(self, why: str, *args: object) -> None:
        if self.disconnected:
            return
        client = f"{self.client[0]}:{self.client[1]}" if self.client else "-"
        log.warning("aborting the WebSocket from %s: " + why, client, *args)
        self.transport.abort()
