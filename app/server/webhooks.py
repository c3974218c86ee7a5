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

from app.errors import CallRefused
from app.server.inputs import services_of
from app.server.signature_log import addressed_urls, signature_refused
from app.telephony import twiml
from app.telephony.forms import (
    CALL_FIELDS,
    INCOMING_FIELDS,
    STATUS_FIELDS,
    STREAM_FIELDS,
    Field,
    Form,
    form_problem,
)
from app.telephony.paths import (
    CALL_ENDED_PATH,
    CALL_STATUS_PATH,
    INCOMING_PATH,
    STREAM_PATH,
    STREAM_STATUS_PATH,
)
from app.telephony.signatures import websocket_url

if TYPE_CHECKING:
    from app.server.services import Services

log = logging.getLogger(__name__)

TWIML = "application/xml"

Handler = Callable[[Request, "Services", Form], Awaitable[Response]]


def twilio_webhook(
    handler: Handler, fields: dict[str, Field]
) -> Callable[[Request], Awaitable[Response]]:
    """A Twilio webhook: 403 unless signed, 400 unless its fields have Twilio's shapes;
    the handler gets the form."""

    async def endpoint(request: Request) -> Response:
        services = services_of(request)
        form = {key: str(value) for key, value in (await request.form()).items()}
        checker = services.checker
        signature = request.headers.get("x-twilio-signature")
        if checker is not None and not checker.webhook_ok(
            request.url.path, request.url.query, form, signature
        ):
            path, query, addressed = request.url.path, request.url.query, addressed_urls(request)
            refusal = checker.webhook_refusal(path, query, form, signature, addressed)
            signature_refused(path, refusal, checker)
            return PlainTextResponse("invalid signature", status_code=403)
        problem = form_problem(form, fields, services.settings.twilio_account_sid)
        if problem is not None:
            log.warning("refused %s: %s", request.url.path, problem)
            return PlainTextResponse(problem, status_code=400)
        return await handler(request, services, form)

    return endpoint


def public_base(request: Request, services: Services) -> str:
    base = services.settings.public_base
    return base if base else f"{request.url.scheme}://{request.url.netloc}"


def xml(body: str) -> Response:
    return Response(body, media_type=TWIML)


async def incoming_call(request: Request, services: Services, form: Form) -> Response:
    board, settings = services.board, services.settings
    call_sid = form["CallSid"]
    try:
        token = board.offer(call_sid)
    except CallRefused as refused:
        log.warning("call %s turned away: %s", call_sid, refused.reason)
        return xml(twiml.say_and_hang_up(settings.busy_message))
    outbound = form.get("Direction", "").startswith("outbound")
    log.info(
        "%s call %s %s %s",
        "outbound" if outbound else "incoming",
        call_sid,
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
    call_sid = form["CallSid"]
    next_step = services.board.after_stream(call_sid)
    if next_step is None:
        return xml(twiml.hangup())
    kind, detail = next_step
    if kind == "dial":
        log.info("call %s: dialling the transfer target after the stream", call_sid)
        return xml(twiml.transfer_twiml(detail))
    log.info("call %s: playing the apology after the stream failed", call_sid)
    return xml(twiml.say_and_hang_up(services.settings.apology_message))


async def stream_status(request: Request, services: Services, form: Form) -> Response:
    event, error = form.get("StreamEvent", "-"), form.get("StreamError", "")
    level = logging.WARNING if event == "stream-error" else logging.INFO
    log.log(
        level,
        "[call %s stream %s] Twilio reports %s %r",
        form["CallSid"],
        form.get("StreamSid", "-"),
        event,
        error,
    )
    return Response(status_code=204)


async def call_status(request: Request, services: Services, form: Form) -> Response:
    log.info(
        "[call %s] Twilio reports the call %s (%s s)",
        form["CallSid"],
        form.get("CallStatus", "-"),
        form.get("CallDuration", "-"),
    )
    return Response(status_code=204)


ROUTES = [
    Route(INCOMING_PATH, twilio_webhook(incoming_call, INCOMING_FIELDS), methods=["POST"]),
    Route(CALL_ENDED_PATH, twilio_webhook(call_ended, CALL_FIELDS), methods=["POST"]),
    Route(STREAM_STATUS_PATH, twilio_webhook(stream_status, STREAM_FIELDS), methods=["POST"]),
    Route(CALL_STATUS_PATH, twilio_webhook(call_status, STATUS_FIELDS), methods=["POST"]),
]
