"""Request bodies are small here: refuse larger ones before anything reads them.

Twilio's webhooks are a few kilobytes and the operator API takes a sentence; without
a limit, an unauthenticated form of a thousand 1 MB fields was parsed before its
signature was checked. :class:`BodyLimit` answers 413 at once for a declared
``Content-Length`` over the limit, and as soon as a streamed body passes it; and 429
for a client with too many bodies still arriving (round three's N1, through a proxy:
the connection's own deadline is app/server/http_guard.py's). A header block over
``MAX_HEADER_BYTES`` that reached the app whole (behind another request's body on a
kept-alive connection, where the connection's guard cannot see where it starts) is
answered 431.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.server.http_guard import MAX_HEADER_BYTES
from app.server.pending import PendingRequests
from app.server.proxy_headers import PEER

MAX_BODY_BYTES = 32 * 1024


class BodyLimit:
    """Bodies within ``max_bytes``; a request whose body has not wholly arrived counts
    as waiting on its client (its address after the trusted-proxy rule), and one beyond
    the client's fill is answered 429 at once, nothing read."""

    def __init__(
        self, app: ASGIApp, pending: PendingRequests, max_bytes: int = MAX_BODY_BYTES
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.pending = pending

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if header_bytes(scope) > MAX_HEADER_BYTES:
            await self._refuse(send, 431)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._refuse(send, 413 if declared.isdigit() else 400)
            return
        client = scope.get("client")
        key = None
        if self.pending.counted_by_app(scope.get(PEER, "")):
            key = self.pending.enter(client[0] if client else "")
            if key is None:
                await self._refuse(send, 429)
                return
        try:
            body = await self._read(receive)
        finally:
            if key is not None:
                self.pending.leave(key)
        if body is None:  # the client went away
            return
        if len(body) > self.max_bytes:
            await self._refuse(send, 413)
            return
        whole: list[Message] = [{"type": "http.request", "body": body, "more_body": False}]

        async def replay() -> Message:
            return whole.pop() if whole else await receive()

        await self.app(scope, replay, send)

    async def _read(self, receive: Receive) -> bytes | None:
        """The whole body, or as soon as it passes the limit; None if the client left."""
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return None
            body += message.get("body", b"")
            if len(body) > self.max_bytes or not message.get("more_body", False):
                return bytes(body)

    async def _refuse(self, send: Send, status: int) -> None:
        payload = json.dumps({"error": SENTENCES[status].format(limit=self.max_bytes)}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})


def header_bytes(scope: Scope) -> int:
    """The size of the request's target and header lines, as they came on the wire."""
    target = len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"")
    return target + sum(len(name) + len(value) + 4 for name, value in scope["headers"])


SENTENCES = {
    431: f"the request's headers are over {MAX_HEADER_BYTES} bytes",
    413: "the request body is over {limit} bytes",
    400: "Content-Length is not a number",
    429: "too many unfinished requests from this address; finish one first",
}
