"""Twilio's webhooks: the voice webhook, the <Connect action>, and status callbacks.

Each is a signed form POST: :func:`twilio_webhook` refuses a missing or wrong
``X-Twilio-Signature`` with 403 before the handler sees anything.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from app.errors import CallRefused
from app.server.inputs import services_of
from app.telephony import sids, twiml
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

Form = dict[str, str]
Handler = Callable[[Request, "Services", Form], Awaitable[Response]]


@dataclass(frozen=True)
class Field:
    """A form field the server uses, and the shape Twilio gives it."""

    check: Callable[[str], bool]
    shape: str
    required: bool = False


def _matches(pattern: str) -> Callable[[str], bool]:
    compiled = re.compile(pattern)
    return lambda value: compiled.fullmatch(value) is not None


CALL = Field(sids.is_twilio_call_sid, "CA followed by 32 hex digits", required=True)
ACCOUNT = Field(sids.is_account_sid, "AC followed by 32 hex digits")
ADDRESS = Field(sids.is_address, "a phone number (+15551234567), client:name or sip:address")
DIRECTION = Field(_matches("[a-z-]{1,32}"), "inbound, outbound-api or outbound-dial")
STREAM = Field(sids.is_stream_sid, "MZ followed by 32 hex digits")
STREAM_EVENT = Field(
    _matches("stream-(started|stopped|error)"), "stream-started, stream-stopped or stream-error"
)
TEXT = Field(lambda value: len(value) <= 1000, "at most 1000 characters")
STATUS = Field(_matches("[a-z-]{1,32}"), "a call status like in-progress or completed")
DURATION = Field(_matches("[0-9]{1,9}"), "a whole number of seconds")
CALL_FIELDS = {"CallSid": CALL, "AccountSid": ACCOUNT, "From": ADDRESS, "To": ADDRESS}
INCOMING_FIELDS = {**CALL_FIELDS, "Direction": DIRECTION}
STREAM_FIELDS = {
    "CallSid": CALL,
    "AccountSid": ACCOUNT,
    "StreamSid": STREAM,
    "StreamEvent": STREAM_EVENT,
    "StreamError": TEXT,
}
STATUS_FIELDS = {**CALL_FIELDS, "CallStatus": STATUS, "CallDuration": DURATION}


def form_problem(form: Form, fields: dict[str, Field], account_sid: str | None) -> str | None:
    """What is wrong with a webhook's form, in a sentence; None if nothing is. Checked
    after the signature: Twilio signs the fields' concatenation with no separators, so
    a signed form can still hold a re-partitioned field."""
    for name, field in fields.items():
        value = form.get(name)
        if value is None:
            if field.required:
                return f"{name} is missing"
        elif not field.check(value):
            return f"{name} must be {field.shape}"
    if account_sid is not None and form.get("AccountSid") != account_sid:
        return "AccountSid is not this server's Twilio account (TWILIO_ACCOUNT_SID)"
    return None


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
            log.warning("refused %s: bad or missing X-Twilio-Signature", request.url.path)
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
