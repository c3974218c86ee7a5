"""Per-call stream tokens: a leaked stream URL cannot start a Gemini session.

``/incoming-call`` issues a short-lived token bound to the CallSid and hands it to
Twilio as a ``<Parameter>``; Twilio returns it in the stream's ``start`` message,
where it is checked before any Gemini session is opened. A token is
``<expiry>.<nonce>.<mac>``: an HMAC-SHA256 over an unambiguous encoding of the
CallSid, expiry and nonce (a JSON list, so no CallSid can read as another call with
another expiry). Each token is accepted once while it is valid, and each CallSid has
at most one live token: issuing a new one (a replayed webhook, say) supersedes the
old, so replays cannot pile up pending capacity. Pure: the clock is passed in.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field

from app.errors import TokenRejected

TOKEN = re.compile(r"([0-9]{1,12})\.([A-Za-z0-9_-]{16})\.([A-Za-z0-9_-]{43})")  # ASCII only


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


# The stream's parameters the webhook vouches for (the numbers Twilio signed in the
# webhook's form): a stream whose `start` carries others is refused, so a replayer
# cannot choose the caller and called numbers the records and the model see.
SEALED = ("from", "to", "direction")
SEAL_PARAMETER = "seal"


def seal(secret: bytes, call_sid: str, parameters: Mapping[str, str]) -> str:
    """An HMAC over the call and its sealed parameters (missing ones as empty)."""
    values = [parameters.get(name, "") for name in SEALED]
    message = json.dumps(["stream-parameters-v1", call_sid, values]).encode()
    return _b64(hmac.new(secret, message, hashlib.sha256).digest())


def seal_matches(secrets_: tuple[bytes, ...], call_sid: str, parameters: Mapping[str, str]) -> bool:
    """Sealed with one of ``secrets_`` (the current secret, and the previous one while
    it is accepted)."""
    supplied = parameters.get(SEAL_PARAMETER, "").encode()
    return any(
        hmac.compare_digest(supplied, seal(secret, call_sid, parameters).encode())
        for secret in secrets_
    )


@dataclass
class StreamTokens:
    """Issues and checks tokens; remembers used ones until they expire."""

    secret: bytes
    ttl_s: float = 60.0
    # While a secret is rotated, tokens under the previous one (issued by processes not
    # yet restarted) are accepted until ``previous_until``.
    previous: bytes | None = None
    previous_until: float = 0.0
    _used: dict[str, float] = field(default_factory=dict)  # nonce -> expiry
    _live: dict[str, tuple[str, int]] = field(default_factory=dict)  # CallSid -> (nonce, expiry)

    def secrets(self, now: float) -> tuple[bytes, ...]:
        """The secrets accepted at ``now``, the current one (which issues) first."""
        if self.previous is not None and now < self.previous_until:
            return (self.secret, self.previous)
        return (self.secret,)

    @staticmethod
    def _mac(secret: bytes, call_sid: str, expiry: int, nonce: str) -> str:
        message = json.dumps(["stream-token-v2", call_sid, expiry, nonce]).encode()
        return _b64(hmac.new(secret, message, hashlib.sha256).digest())

    def mint(self, call_sid: str, now: float) -> tuple[str, str, int]:
        """A new token for ``call_sid``, its nonce and its expiry, remembered nowhere (a
        shared registry keeps which one is live)."""
        expiry = int(now + self.ttl_s)
        nonce = _b64(secrets.token_bytes(12))
        return f"{expiry}.{nonce}.{self._mac(self.secret, call_sid, expiry, nonce)}", nonce, expiry

    def issue(self, call_sid: str, now: float) -> str:
        """A token for ``call_sid``; any token issued here for it before is superseded."""
        self._forget_expired(now)
        token, nonce, expiry = self.mint(call_sid, now)
        self._live[call_sid] = (nonce, expiry)
        return token

    def check(self, token: str, call_sid: str, now: float) -> tuple[str, int]:
        """The nonce and expiry of a well-formed, authentic, unexpired token for
        ``call_sid``, or :class:`TokenRejected` (whether it was used is not asked)."""
        parsed = TOKEN.fullmatch(token)
        if parsed is None:
            raise TokenRejected("malformed stream token")
        expiry, nonce, mac = int(parsed[1]), parsed[2], parsed[3]
        macs = [self._mac(s, call_sid, expiry, nonce).encode() for s in self.secrets(now)]
        if not any(hmac.compare_digest(mac.encode(), m) for m in macs):
            raise TokenRejected("stream token does not match this call")
        if expiry < now:
            raise TokenRejected("stream token expired")
        return nonce, expiry

    def redeem(self, token: str, call_sid: str, now: float) -> None:
        """Accept ``token`` for ``call_sid`` once, or raise :class:`TokenRejected`.

        A token another process of the deployment issued is accepted too (the secret is
        shared); one this process has superseded is not."""
        self._forget_expired(now)
        nonce, expiry = self.check(token, call_sid, now)
        if nonce in self._used:
            raise TokenRejected("stream token already used")
        live = self._live.get(call_sid)
        if live is not None and live[0] != nonce:
            raise TokenRejected("stream token superseded by a newer one for this call")
        self._used[nonce] = expiry
        self._live.pop(call_sid, None)

    def pending(self, now: float) -> set[str]:
        """CallSids with a token issued and still valid but not yet used: calls about to
        connect."""
        self._forget_expired(now)
        return set(self._live)

    def outstanding(self, now: float) -> int:
        return len(self.pending(now))

    def _forget_expired(self, now: float) -> None:
        for nonce in [n for n, expiry in self._used.items() if expiry < now]:
            del self._used[nonce]
        for call_sid in [c for c, (_, expiry) in self._live.items() if expiry < now]:
            del self._live[call_sid]
