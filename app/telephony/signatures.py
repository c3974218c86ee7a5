# edge: Twilio's request validator (the twilio package)
"""Twilio request signatures, checked against the public URL Twilio called; and the
operator token, however it is presented."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence

from twilio.request_validator import RequestValidator

from app.rotation import Rotating
from app.telephony.refusals import Cause, Refusal

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
        self,
        auth_token: Rotating,
        public_base: str,
        account_sid: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._auth_token = auth_token
        values = [v for v in (auth_token.current, auth_token.previous) if v]
        self._validators = {value: RequestValidator(value) for value in values}
        self._public_base = public_base.rstrip("/")
        self._account_sid = account_sid
        self._clock = clock
        self._explained: set[tuple[Cause, str | None]] = set()

    def _signed(self, url: str, form: Mapping[str, str], signature: str) -> bool:
        """Signed for ``url`` with the auth token, or the previous one while accepted."""
        tokens = self._auth_token.values(self._clock())
        return any(self._validators[t].validate(url, dict(form), signature) for t in tokens)

    def _valid(self, url: str, form: Mapping[str, str], signature: str | None) -> bool:
        return bool(signature) and self._signed(url, form, signature or "")

    def webhook_ok(
        self, path: str, query: str, form: Mapping[str, str], signature: str | None
    ) -> bool:
        url = self._public_base + path + (f"?{query}" if query else "")
        return self._valid(url, form, signature)

    def stream_ok(self, path: str, signature: str | None) -> bool:
        return self._valid(websocket_url(self._public_base, path), {}, signature)

    def webhook_refusal(
        self,
        path: str,
        query: str,
        form: Mapping[str, str],
        signature: str | None,
        addressed: Sequence[str] = (),
    ) -> Refusal:
        """Why ``webhook_ok`` said no. ``addressed``: the URLs the request may have been
        sent to (from its Host header); one the signature is valid for is named, since
        only Twilio can sign it."""
        checked = self._public_base + path  # the query string is the request's: not shown
        with_query = bool(query)
        if not signature:
            return Refusal(Cause.MISSING, checked, with_query=with_query)
        ours = checked + (f"?{query}" if query else "")
        for url in addressed:
            if url != ours and self._signed(url, form, signature):
                return Refusal(Cause.OTHER_URL, checked, url, with_query)
        account = form.get("AccountSid")
        if self._account_sid and account and account != self._account_sid:
            return Refusal(Cause.OTHER_ACCOUNT, checked, with_query=with_query)
        return Refusal(Cause.MISMATCH, checked, with_query=with_query)

    def stream_refusal(
        self, path: str, signature: str | None, addressed: Sequence[str] = ()
    ) -> Refusal:
        """Why ``stream_ok`` said no (see :meth:`webhook_refusal`)."""
        checked = websocket_url(self._public_base, path)
        if not signature:
            return Refusal(Cause.MISSING, checked)
        for url in addressed:
            if url != checked and self._signed(url, {}, signature):
                return Refusal(Cause.OTHER_URL, checked, url)
        return Refusal(Cause.MISMATCH, checked)

    def first_time(self, refusal: Refusal) -> bool:
        """Whether this cause has not been explained yet (then it is, from now on)."""
        if refusal.key in self._explained or len(self._explained) >= MAX_EXPLAINED:
            return False
        self._explained.add(refusal.key)
        return True


MAX_EXPLAINED = 64  # causes (and signed addresses) explained; beyond, no more explanations
