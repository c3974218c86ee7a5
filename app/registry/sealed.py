"""Sealed messages: what one process of a fleet writes into the shared registry for
another, signed so that a client that can reach Redis but lacks the deployment's
secret can neither forge one (start, steer or transfer a call) nor replay one past
its expiry. Pure: the clock is passed in; replay within the expiry is refused by the
reader remembering each ``nonce`` (the registry does, in Redis, with SET NX).

A sealed message is ``<mac>.<json>``, the MAC an HMAC-SHA256 over the JSON text, which
holds the purpose (so a message sealed for one use is refused for another), the
expiry (whole milliseconds; 0: none), a random nonce and the body.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from app.errors import UntrustedMessage

MAX_SEALED = 64 * 1024  # a control carries at most a few KB of text


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass(frozen=True, slots=True)
class Opened:
    body: dict[str, Any]
    nonce: str
    expires_ms: int  # 0: never


@dataclass(frozen=True, slots=True)
class Seal:
    """Seals with ``secret``; while it is rotated, messages sealed with ``previous`` (by
    processes not yet restarted) are opened too, until ``previous_until``."""

    secret: bytes
    previous: bytes | None = None
    previous_until: float = 0.0

    def _mac(self, text: str, secret: bytes | None = None) -> str:
        key = self.secret if secret is None else secret
        return _b64(hmac.new(key, text.encode(), hashlib.sha256).digest())

    def _authentic(self, mac: str, text: str, now: float) -> bool:
        keys = [self.secret]
        if self.previous is not None and now < self.previous_until:
            keys.append(self.previous)
        found = False
        for key in keys:
            found |= hmac.compare_digest(mac.encode(), self._mac(text, key).encode())
        return found

    def seal(
        self, purpose: str, body: Mapping[str, Any], now: float, ttl_s: float | None = None
    ) -> str:
        expires_ms = 0 if ttl_s is None else int((now + ttl_s) * 1000)
        nonce = _b64(secrets.token_bytes(12))
        text = json.dumps(
            {"purpose": purpose, "expires_ms": expires_ms, "nonce": nonce, "body": dict(body)},
            separators=(",", ":"),
            ensure_ascii=True,
        )
        return f"{self._mac(text)}.{text}"

    def open(self, purpose: str, sealed: str | bytes, now: float) -> Opened:
        """The message's body, nonce and expiry, or :class:`UntrustedMessage`."""
        if isinstance(sealed, bytes):
            try:
                sealed = sealed.decode("ascii")
            except UnicodeDecodeError:
                raise UntrustedMessage("not a sealed message") from None
        if len(sealed) > MAX_SEALED:
            raise UntrustedMessage("too long for a sealed message")
        mac, dot, text = sealed.partition(".")
        if not dot:
            raise UntrustedMessage("not a sealed message")
        if not self._authentic(mac, text, now):
            raise UntrustedMessage("wrong MAC (not sealed with this deployment's secret)")
        message = json.loads(text)  # sealed by us: well-formed
        if message["purpose"] != purpose:
            raise UntrustedMessage(f"sealed for {message['purpose']!r}, not {purpose!r}")
        expires_ms = int(message["expires_ms"])
        if expires_ms and expires_ms < now * 1000:
            raise UntrustedMessage("expired")
        return Opened(dict(message["body"]), str(message["nonce"]), expires_ms)
