"""Refused Twilio signatures, logged so that an operator can act on them: one short line
per request, and once per cause the explanation (the URL the signature was checked
against and what usually causes it: a tunnel's new address, another account's token,
a proxy rewriting the path). Never the signature or the token."""

from __future__ import annotations

import logging

from starlette.requests import HTTPConnection

from app.telephony.refusals import Refusal, explanation
from app.telephony.signatures import SignatureChecker

log = logging.getLogger("app.server.signatures")

# Headers with which proxies say what path the client asked for before they rewrote it.
ORIGINAL_PATH_HEADERS = ("x-original-uri", "x-forwarded-uri", "x-envoy-original-path")
MAX_ADDRESSES = 6


def addressed_urls(connection: HTTPConnection, *, websocket: bool = False) -> list[str]:
    """The URLs the request may have been sent to, by its own headers. They are only
    tried as what Twilio may have signed, never trusted or logged unless it did."""
    host = connection.headers.get("host", "")
    if not host or any(c in host for c in "/?#@ \\"):
        return []
    scheme = "wss" if websocket else "https"
    query = connection.url.query
    tail = connection.url.path + (f"?{query}" if query else "")
    prefix = connection.headers.get("x-forwarded-prefix", "").rstrip("/")
    urls = [f"{scheme}://{host}{tail}", f"{scheme}://{host}{prefix}{tail}"]
    urls.extend(
        f"{scheme}://{host}{connection.headers[name]}"
        for name in ORIGINAL_PATH_HEADERS
        if connection.headers.get(name, "").startswith("/")
    )
    if not websocket and connection.url.scheme == "http":
        urls.append(f"http://{host}{tail}")  # a number whose webhook is plain http
    return list(dict.fromkeys(urls))[:MAX_ADDRESSES]


def signature_refused(path: str, refusal: Refusal, checker: SignatureChecker) -> None:
    log.warning("refused %s: %s", path, refusal.cause)
    if checker.first_time(refusal):
        log.warning("%s", explanation(refusal, path))
