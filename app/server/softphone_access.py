"""Who may use the softphone: holders of the operator token, or everyone in development.

A browser cannot sign requests as Twilio does, so the softphone's routes check a
cookie set from ``OPERATOR_TOKEN`` (or the token itself as a bearer).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from starlette.requests import HTTPConnection

from app.security import bearer_matches, token_matches

COOKIE = "softphone"
COOKIE_SECONDS = 12 * 3600


@dataclass(frozen=True)
class SoftphoneAccess:
    """Who may use the softphone: holders of the operator token (everyone without one)."""

    operator_token: str | None

    @property
    def open(self) -> bool:
        return self.operator_token is None

    def cookie_value(self) -> str:
        """Derived from the token, so the cookie does not carry the token itself."""
        assert self.operator_token is not None
        return hmac.new(
            self.operator_token.encode(), b"softphone-cookie-v1", hashlib.sha256
        ).hexdigest()

    def allowed(self, connection: HTTPConnection) -> bool:
        """An open softphone, the cookie, or the operator token as a bearer."""
        if self.open:
            return True
        if token_matches(connection.cookies.get(COOKIE, ""), self.cookie_value()):
            return True
        return bearer_matches(connection.headers.get("authorization", ""), self.operator_token)
