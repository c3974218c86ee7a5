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
from app.registry.base import Dial
from app.server.calls_here import STREAM_TOKEN_PARAMETER
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
from app.telephony.stream_tokens import SEAL_PARAMETER

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
    settings = services.settings
    call_sid = form["CallSid"]
    outbound = form.get("Direction", "").startswith("outbound")
    vouched = {
        "from": form.get("From", ""),
        "to": form.get("To", ""),
        "direction": "outbound" if outbound else "inbound",
    }
    try:
        parameters = await services.calls.offer(call_sid, vouched)
    except CallRefused as refused:
        log.warning("call %s turned away: %s", call_sid, refused.reason)
        if refused.replayed:  # no caller waits on a replay: nothing to say
            return xml(twiml.hangup())
        return xml(twiml.say_and_hang_up(settings.busy_message))
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
            caller=parameters["from"],
            called=parameters["to"],
            stream_token=parameters[STREAM_TOKEN_PARAMETER],
            seal=parameters[SEAL_PARAMETER],
            direction=parameters["direction"],
        )
    )


async def call_ended(request: Request, services: Services, form: Form) -> Response:
    """The <Connect action>: what the call does once its stream has closed."""
    call_sid = form["CallSid"]
    after = await services.registry.after_stream(call_sid)
    if after is None:
        return xml(twiml.hangup())
    if isinstance(after, Dial):
        log.info("call %s: dialling the transfer target after the stream", call_sid)
        return xml(twiml.transfer_twiml(after.number))
    log.info("call %s: playing the apology after the stream failed (%s)", call_sid, after.reason)
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


FINAL_STATUSES = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})


async def call_status(request: Request, services: Services, form: Form) -> Response:
    status = form.get("CallStatus", "-")
    log.info(
        "[call %s] Twilio reports the call %s (%s s)",
        form["CallSid"],
        status,
        form.get("CallDuration", "-"),
    )
    if status in FINAL_STATUSES:  # nothing of the call can come back: forget it
        await services.registry.completed(form["CallSid"])
    return Response(status_code=204)


ROUTES = [
    Route(INCOMING_PATH, twilio_webhook(incoming_call, INCOMING_FIELDS), methods=["POST"]),
    Route(CALL_ENDED_PATH, twilio_webhook(call_ended, CALL_FIELDS), methods=["POST"]),
    Route(STREAM_STATUS_PATH, twilio_webhook(stream_status, STREAM_FIELDS), methods=["POST"]),
    Route(CALL_STATUS_PATH, twilio_webhook(call_status, STATUS_FIELDS), methods=["POST"]),
]
