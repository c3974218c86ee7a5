"""Per-call stream tokens: a leaked stream URL cannot start a Gemini session.

``/incoming-call`` issues a short-lived token bound to the CallSid and hands it to
Twilio as a ``<Parameter>``; Twilio returns it in the stream's ``start`` message,
where it is checked before any Gemini session is opened. A token is
``<expiry>.<nonce>.<mac>`` with an HMAC-SHA256 over the CallSid, expiry and nonce.
Each token is accepted once (a replay is refused) while it is valid. Pure: the
clock is passed in.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass, field


class TokenRejected(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass
class StreamTokens:
    """Issues and checks tokens; remembers used ones until they expire."""

    secret: bytes
    ttl_s: float = 60.0
    _used: dict[str, float] = field(default_factory=dict)  # nonce -> expiry
    _issued: dict[str, float] = field(default_factory=dict)  # nonce -> expiry, not yet used

    def _mac(self, call_sid: str, expiry: int, nonce: str) -> str:
        message = f"{call_sid}|{expiry}|{nonce}".encode()
        return _b64(hmac.new(self.secret, message, hashlib.sha256).digest())

    def issue(self, call_sid: str, now: float) -> str:
        self._forget_expired(now)
        expiry = int(now + self.ttl_s)
        nonce = _b64(secrets.token_bytes(12))
        self._issued[nonce] = expiry
        return f"{expiry}.{nonce}.{self._mac(call_sid, expiry, nonce)}"

    def redeem(self, token: str, call_sid: str, now: float) -> None:
        """Accept ``token`` for ``call_sid`` once, or raise :class:`TokenRejected`."""
        self._forget_expired(now)
        parts = token.split(".")
        if len(parts) != 3 or not parts[0].isdigit():
            raise TokenRejected("malformed stream token")
        expiry, nonce, mac = int(parts[0]), parts[1], parts[2]
        if not hmac.compare_digest(mac, self._mac(call_sid, expiry, nonce)):
            raise TokenRejected("stream token does not match this call")
        if expiry < now:
            raise TokenRejected("stream token expired")
        if nonce in self._used:
            raise TokenRejected("stream token already used")
        self._used[nonce] = expiry
        self._issued.pop(nonce, None)

    def outstanding(self, now: float) -> int:
        """Tokens issued and still valid but not yet used: calls about to connect."""
        self._forget_expired(now)
        return len(self._issued)

    def _forget_expired(self, now: float) -> None:
        for store in (self._used, self._issued):
            for nonce in [n for n, expiry in store.items() if expiry < now]:
                del store[nonce]
