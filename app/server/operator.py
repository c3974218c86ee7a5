"""The operator API: call records, placing calls, and steering calls in progress.

Every route needs ``Authorization: Bearer $OPERATOR_TOKEN`` (401 otherwise). Calls in
progress live in the process that took them: a control that reaches another process
answers 404 naming the process, never a silent success.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.call.bridge import CallBridge
from app.errors import CallNotHere, NotAPhoneNumber, OutboundNotConfigured
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

log = logging.getLogger(__name__)

PROCESS_ID = f"{socket.gethostname()}:{os.getpid()}"
MAX_SAY_CHARACTERS = 2000
Endpoint = Callable[[Request], Awaitable[Response]]


def operator_only(handler: Endpoint) -> Endpoint:
    """An operator endpoint: 401 without the right bearer token."""

    async def endpoint(request: Request) -> Response:
        throttled(request)
        expected = services_of(request).operator_token
        authorization = request.headers.get("authorization", "")
        if not bearer_matches(authorization, expected):
            if authorization:
                failed_token(request, "operator API")
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
    return JSONResponse({"calls": await asyncio.to_thread(records.recent, last)})


async def get_call(request: Request) -> Response:
    records = services_of(request).records
    call_sid = call_sid_param(request)
    if records is None:
        return error_response("call records are off (CALL_RECORDS_PATH)", 404)
    record = await asyncio.to_thread(records.get, call_sid)
    if record is None:
        return error_response(f"no record of call {call_sid}", 404)
    return JSONResponse(record)


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


def call_in_progress(request: Request) -> CallBridge:
    call_sid = call_sid_param(request)
    bridge = services_of(request).board.find(call_sid)
    if bridge is None:
        raise CallNotHere(call_sid)
    return bridge


async def not_here(request: Request, error: Exception) -> Response:
    assert isinstance(error, CallNotHere)
    return error_response(error.message, 404, process=PROCESS_ID)


async def say(request: Request) -> Response:
    bridge = call_in_progress(request)
    example = '{"text": "Tell the caller their order shipped."}'
    body = await json_object(request, example)
    text = text_field(body, "text", example, max_length=MAX_SAY_CHARACTERS)
    await bridge.operator_say(text)
    return JSONResponse({"status": "sent", "call": bridge.call_sid}, status_code=202)


async def hangup(request: Request) -> Response:
    bridge = call_in_progress(request)
    await bridge.end_politely("an operator ended the call")
    return JSONResponse({"status": "ending", "call": bridge.call_sid}, status_code=202)


async def transfer(request: Request) -> Response:
    bridge = call_in_progress(request)
    example = '{"target": "sales"}'
    target = text_field(await json_object(request, example), "target", example, max_length=64)
    problem = await bridge.operator_transfer(target)
    if problem is not None:
        return error_response(problem, 400)
    return JSONResponse({"status": "transferring", "call": bridge.call_sid}, status_code=202)


ROUTES = [
    Route("/calls", operator_only(create_call), methods=["POST"]),
    Route("/calls", operator_only(list_calls), methods=["GET"]),
    Route("/calls/{call_sid}", operator_only(get_call), methods=["GET"]),
    Route("/calls/{call_sid}/say", operator_only(say), methods=["POST"]),
    Route("/calls/{call_sid}/hangup", operator_only(hangup), methods=["POST"]),
    Route("/calls/{call_sid}/transfer", operator_only(transfer), methods=["POST"]),
]
