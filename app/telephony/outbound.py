# edge: places calls through Twilio's REST API
"""Placing calls (the bot calls someone) and pointing numbers here: shared by the
operator API (``POST /calls``) and the CLI (``python -m app call|configure-number``)."""

from __future__ import annotations

from app.errors import NotAPhoneNumber, OutboundNotConfigured
from app.settings import Settings
from app.telephony.paths import CALL_STATUS_PATH, INCOMING_PATH
from app.telephony.rest import PlacedCall, TwilioRest
from app.telephony.sids import E164


def rest_client(settings: Settings) -> TwilioRest | None:
    if not settings.twilio_account_sid or settings.twilio_auth_token is None:
        return None
    return TwilioRest(
        settings.twilio_account_sid,
        settings.twilio_auth_token.get_secret_value(),
        settings.twilio_api_base_url,
    )


def check_outbound(settings: Settings, *, placing_calls: bool) -> None:
    """Raise :class:`OutboundNotConfigured` naming the settings still missing."""
    missing = [
        name
        for name, value in (
            ("TWILIO_ACCOUNT_SID", settings.twilio_account_sid),
            ("TWILIO_AUTH_TOKEN", settings.twilio_auth_token),
            ("PUBLIC_URL", settings.public_url),
            ("TWILIO_FROM_NUMBER", settings.twilio_from_number if placing_calls else "-"),
        )
        if not value
    ]
    if missing:
        raise OutboundNotConfigured(f"set {', '.join(missing)} first")


def require_rest(settings: Settings, *, placing_calls: bool) -> TwilioRest:
    """A REST client of its own (for a command; call inside a running event loop)."""
    check_outbound(settings, placing_calls=placing_calls)
    rest = rest_client(settings)
    assert rest is not None  # the account SID and auth token are set
    return rest


async def place_call(settings: Settings, rest: TwilioRest, to: str) -> PlacedCall:
    """Call ``to``; when answered, Twilio fetches our webhook and the bot speaks first."""
    if not E164.fullmatch(to):
        raise NotAPhoneNumber(to)
    base = settings.public_base or ""
    return await rest.create_call(
        to=to,
        from_=settings.twilio_from_number or "",
        url=base + INCOMING_PATH,
        status_callback=base + CALL_STATUS_PATH,
    )


async def configure_number(settings: Settings, rest: TwilioRest, number: str) -> str:
    base = settings.public_base or ""
    return await rest.configure_number(number, base + INCOMING_PATH, base + CALL_STATUS_PATH)
