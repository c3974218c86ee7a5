"""Why a request's Twilio signature was refused, in sentences an operator can act on.
Pure: the checker finds the cause, the HTTP edge logs the sentence once per cause.

Never in a sentence: the signature, the auth token, or anything else a refused
request said, except an address that the request's own signature proves Twilio
signed (which only Twilio, holding the token, can produce).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlsplit


class Cause(StrEnum):
    MISSING = "no X-Twilio-Signature"
    OTHER_URL = "signed for another address"
    OTHER_ACCOUNT = "for another Twilio account"
    MISMATCH = "X-Twilio-Signature does not match"


@dataclass(frozen=True)
class Refusal:
    cause: Cause
    checked_url: str  # what the signature was checked against: PUBLIC_URL and the path
    signed_url: str | None = None  # OTHER_URL: the address the signature is valid for
    with_query: bool = False  # the request's query string was checked too (not shown)

    @property
    def key(self) -> tuple[Cause, str | None]:
        """Explained once per key: per cause, and per address for OTHER_URL."""
        return self.cause, self.signed_url


def base_of(url: str, path: str) -> str:
    """``https://host/voice/incoming-call?x=1`` with path ``/incoming-call`` →
    ``https://host/voice``: what PUBLIC_URL should be for Twilio's address."""
    parts = urlsplit(url)
    prefix = parts.path.removesuffix(path) if parts.path.endswith(path) else parts.path
    scheme = {"wss": "https", "ws": "http"}.get(parts.scheme, parts.scheme)
    return f"{scheme}://{parts.netloc}{prefix}".rstrip("/")


def explanation(refusal: Refusal, path: str) -> str:
    """The sentence for the log: what was checked, what it means, what to do."""
    head = f"refused {path}: {refusal.cause}"
    query = " and the request's query string" if refusal.with_query else ""
    checked = f"checked against {refusal.checked_url} (built from PUBLIC_URL){query}"
    if refusal.cause is Cause.MISSING:
        return (
            f"{head}. Twilio signs every request it sends, so this one came from elsewhere,"
            " or a proxy in front of this server drops the header."
        )
    if refusal.cause is Cause.OTHER_URL:
        signed = refusal.signed_url or ""
        return (
            f"{head}: the signature is valid for {signed}, not for the address it was"
            f" {checked}. PUBLIC_URL is out of date (a tunnel such as ngrok gets a new address"
            f" at each start) or a proxy changes the path: set PUBLIC_URL={base_of(signed, path)}."
        )
    if refusal.cause is Cause.OTHER_ACCOUNT:
        return (
            f"{head}: the request names an AccountSid other than TWILIO_ACCOUNT_SID, so the"
            " number belongs to another Twilio account (or a subaccount), which signs with its"
            " own auth token: set TWILIO_AUTH_TOKEN and TWILIO_ACCOUNT_SID to that account's."
        )
    return (
        f"{head}, {checked}. The usual causes: PUBLIC_URL is not the address Twilio calls (a"
        " tunnel's address changed, or the number's webhook points elsewhere); TWILIO_AUTH_TOKEN"
        " is another account's, or not its current primary token; or a proxy rewrites the path"
        " or drops the query string before the request reaches this server."
    )
