"""Development mode (signatures off): only this server's own name and pages may start
or steer calls (round three's N5).

With signatures on, Twilio's signature proves every webhook and stream. With them off,
nothing did: a page anywhere could post ``/incoming-call`` through a developer's
browser (a blind cross-site form post) or reach the server under its own name (DNS
rebinding), get a stream token and run a call on the developer's Gemini account.
:class:`KnownHosts` applies app/addressing.py's rule to every route but the probes
(``/healthz``, ``/metrics``): the webhooks, the media stream, the operator API and the
softphone.
"""

from __future__ import annotations

import json
import logging

from starlette.types import ASGIApp, Receive, Scope, Send

from app.addressing import KnownHosts as Rule
from app.logs import Sparse

log = logging.getLogger(__name__)

PROBES = frozenset({"/healthz", "/metrics"})
REFUSAL = (
    "signatures are off (development), so this server answers only requests addressed to"
    " localhost, 127.0.0.1 or PUBLIC_URL's host, from its own pages; behind a tunnel, set"
    " PUBLIC_URL to the tunnel's https address"
)


class KnownHosts:
    def __init__(self, app: ASGIApp, rule: Rule) -> None:
        self.app = app
        self.rule = rule
        self._sparse = Sparse()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or scope["path"] in PROBES:
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        if self.rule.allows(headers.get("host", ""), headers.get("origin")):
            await self.app(scope, receive, send)
            return
        # What the request named (its Host, its Origin) is not logged: it is the attacker's.
        if self._sparse.due("refused"):
            log.warning("refused %s %s: %s", scope["type"], scope["path"], REFUSAL)
        await refuse(scope, send)


async def refuse(scope: Scope, send: Send) -> None:
    body = json.dumps({"error": REFUSAL}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": 403, "headers": headers})
        await send({"type": "http.response.body", "body": body})
    elif "websocket.http.response" in scope.get("extensions", {}):
        await send({"type": "websocket.http.response.start", "status": 403, "headers": headers})
        await send({"type": "websocket.http.response.body", "body": body})
    else:
        await send({"type": "websocket.close", "code": 1008})
