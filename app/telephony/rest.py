# edge: Twilio's REST API over HTTP
"""Twilio's REST API: hang up, redirect (transfer), place calls, configure numbers.

Uses the twilio library's async client. ``TWILIO_API_BASE_URL`` (for a regional edge
or a local stand-in) goes in through the library's own extension point, a custom
HTTP client, rather than by patching its internals.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from twilio.base.exceptions import TwilioException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from app.errors import CallControlError

TWILIO_API = "https://api.twilio.com"


class TwilioRestError(CallControlError):
    """A REST call failed; the message says which and why (never the credentials)."""


class _HttpClient(AsyncTwilioHttpClient):  # type: ignore[misc]
    """The library's async client, sending to ``base_url`` and authenticating with a
    header: newer aiohttp deprecates the ``auth=`` argument the library passes (to be
    removed in aiohttp 4)."""

    def __init__(self, base_url: str = TWILIO_API) -> None:
        super().__init__()
        self._base = base_url.rstrip("/")

    async def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        **kwargs: Any,
    ) -> Response:
        if url.startswith(TWILIO_API):
            url = self._base + url.removeprefix(TWILIO_API)
        if auth is not None:
            basic = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode("ascii")
            headers = {**(headers or {}), "Authorization": f"Basic {basic}"}
        return await super().request(method, url, params, data, headers, None, **kwargs)


@dataclass(frozen=True)
class PlacedCall:
    sid: str
    to: str
    status: str


class TwilioRest:
    def __init__(self, account_sid: str, auth_token: str, base_url: str | None = None) -> None:
        http = _HttpClient(base_url or TWILIO_API)
        self._client = Client(account_sid, auth_token, http_client=http)

    async def hangup(self, call_sid: str) -> None:
        await self._do(
            f"hang up {call_sid}", self._client.calls(call_sid).update_async(status="completed")
        )

    async def redirect(self, call_sid: str, twiml: str) -> None:
        await self._do(
            f"redirect {call_sid}", self._client.calls(call_sid).update_async(twiml=twiml)
        )

    async def create_call(self, to: str, from_: str, url: str, status_callback: str) -> PlacedCall:
        call = await self._do(
            f"call {to}",
            self._client.calls.create_async(
                to=to,
                from_=from_,
                url=url,
                method="POST",
                status_callback=status_callback,
                status_callback_method="POST",
            ),
        )
        return PlacedCall(sid=call.sid, to=call.to, status=str(call.status))

    async def configure_number(self, number: str, voice_url: str, status_callback: str) -> str:
        """Point ``number``'s voice webhook and status callback here; returns its SID."""
        numbers = await self._do(
            f"look up {number}",
            self._client.incoming_phone_numbers.list_async(phone_number=number, limit=2),
        )
        if not numbers:
            raise TwilioRestError(f"{number} is not a phone number of this Twilio account")
        sid = numbers[0].sid
        await self._do(
            f"configure {number}",
            self._client.incoming_phone_numbers(sid).update_async(
                voice_url=voice_url,
                voice_method="POST",
                status_callback=status_callback,
                status_callback_method="POST",
            ),
        )
        return str(sid)

    async def aclose(self) -> None:
        http = self._client.http_client
        if isinstance(http, AsyncTwilioHttpClient):
            await http.close()

    @staticmethod
    async def _do(what: str, request: Any) -> Any:
        try:
            return await request
        except TwilioException as error:
            raise TwilioRestError(f"Twilio refused to {what}: {error}") from None
        except OSError as error:
            raise TwilioRestError(f"could not reach Twilio to {what}: {error}") from None
