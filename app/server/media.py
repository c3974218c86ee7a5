"""The media-stream WebSocket: one call's socket handed to a :class:`CallBridge`."""

from __future__ import annotations

import contextlib
import logging

from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from app.call.bridge import BridgeOptions, CallBridge
from app.errors import SocketClosed
from app.server.inputs import services_of
from app.server.signature_log import addressed_urls, signature_refused
from app.telephony.paths import STREAM_PATH
from app.telephony.signatures import POLICY_VIOLATION

log = logging.getLogger(__name__)

# Twilio's frames are ~400 bytes; a start with its parameters (each under 500
# characters) a few KiB. A larger one is closed with 1009.
WS_MAX_SIZE = 16 * 1024


class StarletteMediaSocket:
    """Starlette's WebSocket as the bridge's :class:`~app.call.ports.MediaSocket`."""

    def __init__(self, websocket: WebSocket) -> None:
        self._ws = websocket
        self._closed = False

    async def receive(self) -> str | bytes:
        message = await self._ws.receive()
        if message["type"] == "websocket.disconnect":
            self._closed = True
            raise SocketClosed(message.get("code"))
        text: str | None = message.get("text")
        if text is not None:
            return text
        data: bytes = message.get("bytes") or b""
        return data

    async def send(self, text: str) -> None:
        if self._closed:
            raise SocketClosed()
        try:
            await self._ws.send_text(text)
        except (WebSocketDisconnect, OSError, RuntimeError) as error:
            self._closed = True
            raise SocketClosed(getattr(error, "code", None)) from None

    async def close(self, code: int = 1000, reason: str = "") -> None:
        if self._closed:
            return
        self._closed = True
        # The peer may already be gone (a browser tab closed): nothing left to tell it.
        with contextlib.suppress(OSError, RuntimeError, WebSocketDisconnect):
            await self._ws.close(code, reason)


async def run_call(websocket: WebSocket, options: BridgeOptions) -> None:
    """Accept the socket and run the call on it to the end."""
    services = services_of(websocket)
    await websocket.accept()
    bridge = CallBridge(StarletteMediaSocket(websocket), services.connector, options, services.rest)
    bridge.attach(services.call_sinks(bridge.log))
    services.calls.started(bridge)
    try:
        summary = await bridge.run()
    finally:
        services.calls.gone(bridge)
    services.calls.finished(summary)


async def media_stream(websocket: WebSocket) -> None:
    services = services_of(websocket)
    checker = services.checker
    signature = websocket.headers.get("x-twilio-signature")
    if checker is not None and not checker.stream_ok(STREAM_PATH, signature):
        addressed = addressed_urls(websocket, websocket=True)
        refusal = checker.stream_refusal(STREAM_PATH, signature, addressed)
        signature_refused(STREAM_PATH, refusal, checker)
        await websocket.close(code=POLICY_VIOLATION)  # before accept: HTTP 403
        return
    await run_call(websocket, services.options)


ROUTES = [WebSocketRoute(STREAM_PATH, media_stream)]
