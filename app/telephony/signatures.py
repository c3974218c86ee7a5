# edge: Twilio's request validator (the twilio package)
"""Twilio request signatures, checked against the public URL Twilio called; and the
operator token, however it is presented."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from twilio.request_validator import RequestValidator

from app.rotation import Rotating

POLICY_VIOLATION = 1008  # WebSocket close code; before accept, the client sees HTTP 403


def token_matches(supplied: str, expected: Rotating | None, now: float) -> bool:
    """``supplied`` is the configured token, or the previous one while it is still
    accepted (compared in constant time); never without one."""
    return expected is not None and expected.matches(supplied, now)


def bearer_matches(authorization: str, expected: Rotating | None, now: float) -> bool:
    """An ``Authorization: Bearer <token>`` header value carrying the configured token."""
    return authorization.startswith("Bearer ") and token_matches(
        authorization.removeprefix("Bearer "), expected, now
    )


def websocket_url(public_base: str, path: str) -> str:
    """``https://host`` + path → ``wss://host/path`` (``http`` → ``ws``)."""
    if public_base.startswith("https://"):
        return "wss://" + public_base.removeprefix("https://") + path
    return "ws://" + public_base.removeprefix("http://") + path


class SignatureChecker:
    """Validates ``X-Twilio-Signature`` with Twilio's own algorithm.

    The URL is always rebuilt from ``PUBLIC_URL`` (never from the Host header the
    server saw), because Twilio signs the address it called.
    """

    def __init__(
        self, auth_token: Rotating, public_base: str, clock: Callable[[], float] = time.time
    ) -> None:
        self._auth_token = auth_token
        values = [v for v in (auth_token.current, auth_token.previous) if v]
        self._validators = {value: RequestValidator(value) for value in values}
        self._public_base = public_base.rstrip("/")
        self._clock = clock

    def _valid(self, url: str, form: Mapping[str, str], signature: str | None) -> bool:
        """Signed with the auth token, or with the previous one while it is accepted."""
        if not signature:
            return False
        tokens = self._auth_token.values(self._clock())
        return any(self._validators[t].validate(url, dict(form), signature) for t in tokens)

    def webhook_ok(
        self, path: str, query: str, form: Mapping[str, str], signature: str | None
    ) -> bool:
        url = self._public_base + path + (f"?{query}" if query else "")
        return self._valid(url, form, signature)

    def stream_ok(self, path: str, signature: str | None) -> bool:
        return self._valid(websocket_url(self._public_base, path), {}, signature)
