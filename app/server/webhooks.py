"""Twilio's webhooks: the voice webhook, the <Connect action>, and status callbacks.

Each is a signed form POST: :func:`twilio_webhook` refuses a missing or wrong
``X-Twilio-Signature`` with 403 before the handler sees anything.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from app import twiml
from app.security import websocket_url
from app.server.inputs import services_of
from app.server.paths import (
    CALL_ENDED_PATH,
    CALL_STATUS_PATH,
    INCOMING_PATH,
    STREAM_PATH,
    STREAM_STATUS_PATH,
)

if TYPE_CHECKING:
    from app.server.services import Services

log = logging.getLogger(__name__)

TWIML = "application/xml"

Form = dict[str, str]
Handler = Callable[[Request, "Services", Form], Awaitable[Response]]


def twilio_webhook(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """A Twilio webhook: 403 unless signed; the handler gets the form."""

    async def endpoint(request: Request) -> Response:
        services = services_of(request)
        form = {key: str(value) for key, value in (await request.form()).items()}
        checker = services.checker
        signature = request.headers.get("x-twilio-signature")
        if checker is not None and not checker.webhook_ok(
            request.url.path, request.url.query, form, signature
        ):
            log.warning(
                "refused %s for call %r: bad or missing X-Twilio-Signature",
                request.url.path,
                form.get("CallSid", "-"),
            )
            return PlainTextResponse("invalid signature", status_code=403)
        return await handler(request, services, form)

    return endpoint


def public_base(request: Request, services: Services) -> str:
    base = services.settings.public_base
    return base if base else f"{request.url.scheme}://{request.url.netloc}"


def xml(body: str) -> Response:
    return Response(body, media_type=TWIML)


async def incoming_call(request: Request, services: Services, form: Form) -> Response:
    board, settings = services.board, services.settings
    call_sid = form.get("CallSid", "")
    token = board.offer(call_sid)
    if token is None:
        log.warning("call %r turned away: %s", call_sid or "-", board.busy_reason())
        return xml(twiml.say_and_hang_up(settings.busy_message))
    outbound = form.get("Direction", "").startswith("outbound")
    log.info(
        "%s call %r %s %r",
        "outbound" if outbound else "incoming",
        call_sid or "-",
        "to" if outbound else "from",
        form.get("To" if outbound else "From", "unknown"),
    )
    base = public_base(request, services)
    return xml(
        twiml.connect_stream(
            stream_url=websocket_url(base, STREAM_PATH),
            action_url=base + CALL_ENDED_PATH,
            status_url=base + STREAM_STATUS_PATH,
            call_sid=call_sid,
            caller=form.get("From", ""),
            called=form.get("To", ""),
            stream_token=token,
            direction="outbound" if outbound else "inbound",
        )
    )


async def call_ended(request: Request, services: Services, form: Form) -> Response:
    """The <Connect action>: what the call does once its stream has closed."""
    call_sid = form.get("CallSid", "")
    next_step = services.board.after_stream(call_sid)
    if next_step is None:
        return xml(twiml.hangup())
    kind, detail = next_step
    if kind == "dial":
        log.info("call %r: dialling the transfer target after the stream", call_sid)
        return xml(twiml.transfer_twiml(detail))
    log.info("call %r: playing the apology after the stream failed", call_sid)
    return xml(twiml.say_and_hang_up(services.settings.apology_message))


async def stream_status(request: Request, services: Services, form: Form) -> Response:
    event, error = form.get("StreamEvent", "-"), form.get("StreamError", "")
    level = logging.WARNING if event == "stream-error" else logging.INFO
    log.log(
        level,
        "[call %r stream %r] Twilio reports %r %r",
        form.get("CallSid", "-"),
        form.get("StreamSid", "-"),
        event,
        error,
    )
    return Response(status_code=204)


async def call_status(request: Request, services: Services, form: Form) -> Response:
    log.info(
        "[call %r] Twilio reports the call %r (%r s)",
        form.get("CallSid", "-"),
        form.get("CallStatus", "-"),
        form.get("CallDuration", "-"),
    )
    return Response(status_code=204)


ROUTES = [
    Route(INCOMING_PATH, twilio_webhook(incoming_call), methods=["POST"]),
    Route(CALL_ENDED_PATH, twilio_webhook(call_ended), methods=["POST"]),
    Route(STREAM_STATUS_PATH, twilio_webhook(stream_status), methods=["POST"]),
    Route(CALL_STATUS_PATH, twilio_webhook(call_status), methods=["POST"]),
]
