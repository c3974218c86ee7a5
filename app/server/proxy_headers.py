"""The client behind trusted proxies (TRUSTED_PROXIES), for every request and socket.

Replaces uvicorn's proxy-headers handling (``python -m app`` turns it off), whose rule
for ``TRUSTED_PROXIES=*`` took the X-Forwarded-For entry the client writes; the rule
itself is :class:`app.clients.TrustedProxies`. The peer's own address stays in the
scope as ``phonebot.peer``.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from app.clients import TrustedProxies

PEER = "phonebot.peer"


class ProxyHeaders:
    def __init__(self, app: ASGIApp, proxies: TrustedProxies) -> None:
        self.app = app
        self.proxies = proxies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            client = scope.get("client")
            peer = client[0] if client else ""
            scope[PEER] = peer
            headers = scope["headers"]
            forwarded = [v.decode("latin-1") for k, v in headers if k == b"x-forwarded-for"]
            protos = [v.decode("latin-1") for k, v in headers if k == b"x-forwarded-proto"]
            address = self.proxies.client(peer, forwarded)
            if client is not None and address != peer:
                scope["client"] = (address, 0)
            scheme = self.proxies.scheme(peer, protos, scope.get("scheme", "http"))
            if scope["type"] == "websocket":
                scheme = "wss" if scheme in ("https", "wss") else "ws"
            scope["scheme"] = scheme
        await self.app(scope, receive, send)
