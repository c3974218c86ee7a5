"""uvicorn's h11 protocol, guarded against clients that hold connections open.

Round three's N1: 280 connections each sending ``Content-Length: 30000``, ten bytes of
body, then nothing, filled every connection slot, so ``/healthz`` and real calls got
503. Each connection now has:

- one deadline for the whole request, headers and body (``REQUEST_TIMEOUT_SECONDS``):
  from the connection's opening, or a kept-alive connection's next first byte, until
  the request has wholly arrived (or the connection became a WebSocket); then the
  connection is closed;
- a header block of at most ``MAX_HEADER_BYTES``, however the bytes arrive (431),
  each request on a kept-alive connection counted alone (a block that arrives whole
  behind the previous request's body is measured by BodyLimit, app/server/body_limit.py);
- a place in its client's count of requests waiting on the client
  (app/server/pending.py) until the request has wholly arrived, and while it is idle
  between requests: beyond ``MAX_PENDING_REQUESTS_PER_CLIENT`` a new connection is
  answered 429 and closed. A trusted proxy's connections are not counted by the
  proxy's address (BodyLimit counts its clients, by name, once their headers are
  read). An admitted media stream waits on nobody and is never counted: every Twilio
  stream comes from a few of Twilio's addresses.
"""

from __future__ import annotations

import asyncio

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from app.server.pending import PendingRequests

MAX_HEADER_BYTES = 16 * 1024  # a request line and headers; Twilio's are under 2 KiB
HEADER_END = b"\r\n\r\n"


LINGER_S = 0.25
TOO_MANY = "too many unfinished requests from this address; finish one first"


def plain_response(status: int, reason: str, text: str) -> bytes:
    body = text.encode()
    return (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: text/plain; charset=utf-8\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    ).encode() + body


class RequestGuard(H11Protocol):
    pending: PendingRequests  # set on the subclass each server makes (see serve.py)
    _deadline: asyncio.TimerHandle | None = None
    _counted: str | None = None  # the client key this connection is counted under
    _head_bytes = 0  # bytes of the current request's header block seen so far
    _tail = b""  # the last bytes seen, for a header end split across reads
    _refused = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if not self._count():
            self._refuse(429, "Too Many Requests", TOO_MANY)
            return
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # read and dropped: closing with unread bytes would reset the answer
        before = self.conn.their_state
        if before is h11.IDLE and self._header_too_big(data):
            self._release()
            self._disarm()
            self._refuse(431, "Request Header Fields Too Large", "headers too large")
            return
        super().data_received(data)
        after = self.conn.their_state
        upgraded = self.transport.get_protocol() is not self
        if upgraded or after in (h11.DONE, h11.MUST_CLOSE, h11.CLOSED, h11.ERROR):
            self._release()  # the request has wholly arrived: it waits on us now
            self._disarm()
            self._head_bytes, self._tail = 0, b""
        elif before is not h11.IDLE and after is h11.IDLE:
            # The body came after the answer (a refusal that never read it) and the next
            # cycle began: a new request, with its own header count and its own deadline.
            # (Bytes of its header block that came with the body's end are h11's to
            # limit, as an unfinished event; a whole block is measured by BodyLimit.)
            self._head_bytes, self._tail = 0, b""
            self._disarm()
            self._arm()
        elif after is not h11.IDLE:
            self._head_bytes, self._tail = 0, b""  # the header block is whole; a body follows
        elif self._deadline is None:
            self._arm()  # the first bytes of a request on a kept-alive connection

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._count()  # idle between requests: waiting on the client again

    def connection_lost(self, exc: Exception | None) -> None:
        self._release()
        self._disarm()
        super().connection_lost(exc)

    def _header_too_big(self, data: bytes) -> bool:
        seen = self._tail + data
        end = seen.find(HEADER_END)
        if end >= 0:
            size = self._head_bytes - len(self._tail) + end + len(HEADER_END)
        else:
            size = self._head_bytes + len(data)
        self._head_bytes += len(data)
        self._tail = seen[-(len(HEADER_END) - 1) :]
        return size > MAX_HEADER_BYTES

    def _refuse(self, status: int, reason: str, text: str) -> None:
        """Answer and half-close; close for good a moment later (the client's unread
        bytes would otherwise turn the close into a reset that loses the answer)."""
        self._refused = True
        self.connections.discard(self)  # not a connection uvicorn's concurrency limit serves
        self.transport.write(plain_response(status, reason, text))
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(LINGER_S, self.transport.close)

    def _count(self) -> bool:
        """Count this connection as waiting on its client (not a trusted proxy's: BodyLimit
        counts its clients, by name); False when the client has its fill."""
        peer = self.client[0] if self.client else ""
        if self._counted is None and not self.pending.proxies.trusts(peer):
            self._counted = self.pending.enter(peer)
            return self._counted is not None
        return True

    def _release(self) -> None:
        if self._counted is not None:
            self.pending.leave(self._counted)
            self._counted = None

    def _arm(self) -> None:
        self._deadline = self.loop.call_later(self.pending.request_timeout_s, self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.transport.close()


def guarded_protocol(pending: PendingRequests) -> type[RequestGuard]:
    """The protocol class for one server, counting into the app's ``pending``."""
    pending.guarded = True
    return type("RequestGuard", (RequestGuard,), {"pending": pending})
