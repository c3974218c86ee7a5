"""Requests still waiting on their client, counted per client (round three's N1).

One :class:`PendingRequests` per app: the server's connection guard
(app/server/http_guard.py) counts each direct client's connections until their
request has wholly arrived, and while they are idle between requests; the app's
:class:`~app.server.body_limit.BodyLimit` counts the unfinished bodies of a trusted
proxy's clients, by the address the proxy names (and every client's, where the guard
is not serving: ``uvicorn app.main:app``). Beyond
``MAX_PENDING_REQUESTS_PER_CLIENT`` at once, a client's next request is answered 429.
An admitted media stream waits on nobody and is never counted.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field

from app.clients import TrustedProxies, client_key
from app.logs import Sparse

log = logging.getLogger(__name__)


@dataclass
class PendingRequests:
    max_per_client: int = 16
    request_timeout_s: float = 10.0
    proxies: TrustedProxies = field(default_factory=TrustedProxies)
    # The server's connection guard counts its direct clients' requests whole; without
    # it (uvicorn app.main:app) the app counts every client's unfinished bodies.
    guarded: bool = False
    counts: Counter[str] = field(default_factory=Counter)
    refused: int = 0
    _sparse: Sparse = field(default_factory=Sparse)

    def counted_by_app(self, peer: str) -> bool:
        """Does the app count this request's body (the connection guard does not)?"""
        return not self.guarded or self.proxies.trusts(peer)

    def enter(self, address: str) -> str | None:
        """Count one more request waiting on ``address``'s client: its key, or None (and
        the refusal noted) when that client already has its fill."""
        key = client_key(address)
        if self.counts[key] >= self.max_per_client:
            self._refused(key)
            return None
        self.counts[key] += 1
        return key

    def leave(self, key: str) -> None:
        self.counts[key] -= 1
        if self.counts[key] <= 0:
            del self.counts[key]

    def _refused(self, key: str) -> None:
        self.refused += 1
        if not self._sparse.due(key):
            return
        log.warning(
            "client %s has %d requests waiting on it; refusing more with 429 for a while"
            " (MAX_PENDING_REQUESTS_PER_CLIENT)",
            key,
            self.counts[key],
        )
