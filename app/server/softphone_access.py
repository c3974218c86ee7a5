"""Who may use the softphone: holders of the operator token, or everyone in development.

A browser cannot sign requests as Twilio does, so the softphone's routes check a
cookie given at sign-in (or the operator token itself as a bearer). The cookie is
``<expiry>.<nonce>.<mac>``: an HMAC, keyed from the operator token, over its own
expiry and a random nonce, so every sign-in gets a new one, each stops working after
``COOKIE_SECONDS`` on the server's side too, and changing OPERATOR_TOKEN signs
everyone out. Which pages may start calls: app/addressing.py.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass, field

from starlette.requests import HTTPConnection

from app.addressing import KnownHosts
from app.rotation import Rotating
from app.telephony.signatures import bearer_matches

COOKIE = "softphone"
COOKIE_SECONDS = 12 * 3600
COOKIE_SHAPE = re.compile(r"([0-9]{1,12})\.([A-Za-z0-9_-]{22})\.([0-9a-f]{64})")  # ASCII only


@dataclass(frozen=True)
class SoftphoneAccess:
    """Who may use the softphone: holders of the operator token (everyone without one),
    from pages on the hosts it knows (this machine's names and PUBLIC_URL's host)."""

    operator_token: Rotating | None
    known: KnownHosts = field(default_factory=KnownHosts)

    @property
    def open(self) -> bool:
        return self.operator_token is None

    @staticmethod
    def _mac(token: str, expiry: int, nonce: str) -> str:
        key = hmac.new(token.encode(), b"softphone-cookie-v2", hashlib.sha256).digest()
        message = json.dumps(["softphone-cookie", expiry, nonce]).encode()
        return hmac.new(key, message, hashlib.sha256).hexdigest()

    def new_cookie(self, now: float) -> str:
        """A cookie value for one sign-in, good for ``COOKIE_SECONDS`` from ``now``."""
        assert self.operator_token is not None
        expiry = int(now + COOKIE_SECONDS)
        nonce = secrets.token_urlsafe(16)
        return f"{expiry}.{nonce}.{self._mac(self.operator_token.current, expiry, nonce)}"

    def cookie_ok(self, value: str, now: float) -> bool:
        """Given at a sign-in with the operator token (or, while it is accepted, the
        previous one), and not expired."""
        parsed = COOKIE_SHAPE.fullmatch(value)
        if parsed is None or self.operator_token is None:
            return False
        expiry, nonce, mac = int(parsed[1]), parsed[2], parsed[3]
        macs = [self._mac(token, expiry, nonce) for token in self.operator_token.values(now)]
        return any(hmac.compare_digest(mac.encode(), m.encode()) for m in macs) and now <= expiry

    def allowed(self, connection: HTTPConnection, now: float) -> bool:
        """An open softphone, a valid cookie, or the operator token as a bearer."""
        if self.open:
            return True
        if self.cookie_ok(connection.cookies.get(COOKIE, ""), now):
            return True
        authorization = connection.headers.get("authorization", "")
        return bearer_matches(authorization, self.operator_token, now)

    def known_page(self, connection: HTTPConnection) -> bool:
        """Addressed to this server, and from no other site's page (app/addressing.py):
        so no web page, one whose name an attacker points at 127.0.0.1 included, can
        start calls on an open development softphone."""
        headers = connection.headers
        return self.known.allows(headers.get("host", ""), headers.get("origin"))
