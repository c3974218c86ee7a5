"""The operator API: call records, placing calls, and steering calls in progress.

Every route needs ``Authorization: Bearer $OPERATOR_TOKEN`` (401 otherwise). A control
for a call in progress goes through the registry to whichever process holds the call,
and is answered 202 only once the call took it; 404 (naming this process) when no
process holds it, never a silent success.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.call.controls import ENDED, NOT_STARTED, Control, EndCall, Say, TransferTo
from app.errors import CallNotHere, ControlTimeout, NotAPhoneNumber, OutboundNotConfigured
from app.server.inputs import (
    call_sid_param,
    error_response,
    failed_token,
    json_object,
    known_query,
    query_int,
    services_of,
    text_field,
    throttled,
)
from app.telephony.outbound import check_outbound, place_call
from app.telephony.rest import TwilioRestError
from app.telephony.signatures import bearer_matches
from app.text import printable_values

log = logging.getLogger(__name__)

MAX_SAY_CHARACTERS = 2000
Endpoint = Callable[[Request], Awaitable[Response]]


def operator_only(handler: Endpoint) -> Endpoint:
    """An operator endpoint: 401 without the right bearer token."""

    async def endpoint(request: Request) -> Response:
        await throttled(request)
        expected = services_of(request).operator_token
        authorization = request.headers.get("authorization", "")
        if not bearer_matches(authorization, expected, time.time()):
            if authorization:
                await failed_token(request, "operator API")
            return error_response("missing or wrong bearer token", 401)
        return await handler(request)

    return endpoint


async def list_calls(request: Request) -> Response:
    records = services_of(request).records
    known_query(request, "last")
    last = query_int(request, "last", default=50, low=1, high=1000)
    if records is None:
        return error_response("call records are off (CALL_RECORDS_PATH)", 404)
    # Off the loop: the disk writer may be holding the database for a moment.
    calls = await asyncio.to_thread(records.recent, last)
    return JSONResponse(printable_values({"calls": calls}))


async def get_call(request: Request) -> Response:
    records = services_of(request).records
    call_sid = call_sid_param(request)
    if records is None:
        return error_response("call records are off (CALL_RECORDS_PATH)", 404)
    record = await asyncio.to_thread(records.get, call_sid)
    if record is None:
        return error_response(f"no record of call {call_sid}", 404)
    return JSONResponse(printable_values(record))


async def create_call(request: Request) -> Response:
    services = services_of(request)
    example = '{"to": "+15551234567"}'
    to = text_field(await json_object(request, example), "to", example, max_length=32)
    try:
        check_outbound(services.settings, placing_calls=True)
    except OutboundNotConfigured as missing:
        return error_response(f"outbound calls are off: {missing}", 503)
    assert services.rest is not None  # opened at startup whenever the settings allow
    try:
        placed = await place_call(services.settings, services.rest, to)
    except NotAPhoneNumber as bad:
        return error_response(str(bad), 400)
    except TwilioRestError as error:
        log.error("placing a call to %r failed: %s", to, error)
        return error_response(str(error), 502)
    log.info("placed call %s to %s", placed.sid, placed.to)
    return JSONResponse(
        {"sid": placed.sid, "to": placed.to, "status": placed.status}, status_code=201
    )


async def call_in_progress(request: Request) -> str:
    """The path's CallSid, if some process of the deployment holds that call (else 404)."""
    call_sid = call_sid_param(request)
    if await services_of(request).registry.locate(call_sid) is None:
        raise CallNotHere(call_sid)
    return call_sid


async def not_here(request: Request, error: Exception) -> Response:
    assert isinstance(error, CallNotHere)
    return error_response(error.message, 404, process=services_of(request).registry.process)


async def registry_down(request: Request, error: Exception) -> Response:
    """Redis (or the records database) unreachable: 503, with what is unreachable."""
    return error_response(f"{error}; try again shortly", 503)


async def control_timeout(request: Request, error: Exception) -> Response:
    assert isinstance(error, ControlTimeout)
    return error_response(str(error), 504, process=error.process)


async def steer(request: Request, call_sid: str, control: Control, status: str) -> Response:
    """Hand ``control`` to the call, whichever process holds it: 202 once the call took it."""
    reply = await services_of(request).registry.control(call_sid, control)
    if reply is ENDED:
        raise CallNotHere(call_sid)
    if not reply.accepted:
        return error_response(reply.problem, 409 if reply is NOT_STARTED else 400)
    return JSONResponse({"status": status, "call": call_sid}, status_code=202)


async def say(request: Request) -> Response:
    call_sid = await call_in_progress(request)
    example = '{"text": "Tell the caller their order shipped."}'
    body = await json_object(request, example)
    text = text_field(body, "text", example, max_length=MAX_SAY_CHARACTERS)
    return await steer(request, call_sid, Say(text), "sent")


async def hangup(request: Request) -> Response:
    call_sid = await call_in_progress(request)
    return await steer(request, call_sid, EndCall("an operator ended the call"), "ending")


async def transfer(request: Request) -> Response:
    call_sid = await call_in_progress(request)
    example = '{"target": "sales"}'
    target = text_field(await json_object(request, example), "target", example, max_length=64)
    return await steer(request, call_sid, TransferTo(target), "transferring")


ROUTES = [
    Route("/calls", operator_only(create_call), methods=["POST"]),
    Route("/calls", operator_only(list_calls), methods=["GET"]),
    Route("/calls/{call_sid}", operator_only(get_call), methods=["GET"]),
    Route("/calls/{call_sid}/say", operator_only(say), methods=["POST"]),
    Route("/calls/{call_sid}/hangup", operator_only(hangup), methods=["POST"]),
    Route("/calls/{call_sid}/transfer", operator_only(transfer), methods=["POST"]),
]
