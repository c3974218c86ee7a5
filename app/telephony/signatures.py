# edge: Twilio's request validator (the twilio package)
"""Twilio request signatures, checked against the public URL Twilio called; and the
operator token, however it is presented."""

from __future__ import annotations

import hmac
from collections.abc import Mapping

from twilio.request_validator import RequestValidator

POLICY_VIOLATION = 1008  # WebSocket close code; before accept, the client sees HTTP 403


def token_matches(supplied: str, expected: str | None) -> bool:
    """``supplied`` is the configured token (compared in constant time); never without one."""
    return expected is not None and hmac.compare_digest(supplied.encode(), expected.encode())


def bearer_matches(authorization: str, expected: str | None) -> bool:
    """An ``Authorization: Bearer <token>`` header value carrying the configured token."""
    return authorization.startswith("Bearer ") and token_matches(
        authorization.removeprefix("Bearer "), expected
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

    def __init__(self, auth_token: str, public_base: str) -> None:
        self._validator = RequestValidator(auth_token)
        self._public_base = public_base.rstrip("/")

    def webhook_ok(
        self, path: str, query: str, form: Mapping[str, str], signature: str | None
    ) -> bool:
        if not signature:
            return False
        url = self._public_base + path + (f"?{query}" if query else "")
        return bool(self._validator.validate(url, dict(form), signature))

    def stream_ok(self, path: str, signature: str | None) -> bool:
        if not signature:
            return False
        url = websocket_url(self._public_base, path)
        return bool(self._validator.validate(url, {}, signature))
