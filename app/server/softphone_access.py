"""Who may use the softphone: holders of the operator token, or everyone in development.

A browser cannot sign requests as Twilio does, so the softphone's routes check a
cookie given at sign-in (or the operator token itself as a bearer). The cookie is
``<expiry>.<nonce>.<mac>``: an HMAC, keyed from the operator token, over its own
expiry and a random nonce, so every sign-in gets a new one, each stops working after
``COOKIE_SECONDS`` on the server's side too, and changing OPERATOR_TOKEN signs
everyone out. Which pages may start calls is decided by host names, never by the
request's own ``Host`` (which a DNS-rebinding page controls).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from starlette.requests import HTTPConnection

from app.telephony.signatures import bearer_matches

COOKIE = "softphone"
COOKIE_SECONDS = 12 * 3600
COOKIE_SHAPE = re.compile(r"([0-9]{1,12})\.([A-Za-z0-9_-]{22})\.([0-9a-f]{64})")  # ASCII only
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


def host_name(netloc: str) -> str:
    """``Example.com:8000`` → ``example.com``; ``[::1]:8000`` → ``::1``."""
    try:
        return (urlsplit(f"//{netloc}").hostname or "").lower()
    except ValueError:
        return ""


@dataclass(frozen=True)
class SoftphoneAccess:
    """Who may use the softphone: holders of the operator token (everyone without one),
    from pages on the hosts it knows (this machine's names and PUBLIC_URL's host)."""

    operator_token: str | None
    public_host: str | None = None
    _key: bytes = field(default=b"", repr=False)

    def __post_init__(self) -> None:
        if self.operator_token is not None:
            key = hmac.new(self.operator_token.encode(), b"softphone-cookie-v2", hashlib.sha256)
            object.__setattr__(self, "_key", key.digest())

    @property
    def open(self) -> bool:
        return self.operator_token is None

    @property
    def hosts(self) -> frozenset[str]:
        return LOCAL_HOSTS | ({self.public_host.lower()} if self.public_host else set())

    def _mac(self, expiry: int, nonce: str) -> str:
        message = json.dumps(["softphone-cookie", expiry, nonce]).encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def new_cookie(self, now: float) -> str:
        """A cookie value for one sign-in, good for ``COOKIE_SECONDS`` from ``now``."""
        expiry = int(now + COOKIE_SECONDS)
        nonce = secrets.token_urlsafe(16)
        return f"{expiry}.{nonce}.{self._mac(expiry, nonce)}"

    def cookie_ok(self, value: str, now: float) -> bool:
        parsed = COOKIE_SHAPE.fullmatch(value)
        if parsed is None or self.open:
            return False
        expiry, nonce, mac = int(parsed[1]), parsed[2], parsed[3]
        return hmac.compare_digest(mac.encode(), self._mac(expiry, nonce).encode()) and (
            now <= expiry
        )

    def allowed(self, connection: HTTPConnection, now: float) -> bool:
        """An open softphone, a valid cookie, or the operator token as a bearer."""
        if self.open:
            return True
        if self.cookie_ok(connection.cookies.get(COOKIE, ""), now):
            return True
        return bearer_matches(connection.headers.get("authorization", ""), self.operator_token)

    def known_page(self, connection: HTTPConnection) -> bool:
        """The request is addressed to a host this server answers as, and, if a page sent
        it (it has an ``Origin``), that page is on such a host. Requests without an
        Origin (curl, scripts) are not from a page. This keeps any web page, including
        one whose name an attacker points at 127.0.0.1 (DNS rebinding), from starting
        calls on an open development softphone."""
        if host_name(connection.headers.get("host", "")) not in self.hosts:
            return False
        origin = connection.headers.get("origin")
        return origin is None or host_name(urlsplit(origin).netloc) in self.hosts
