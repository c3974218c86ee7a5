"""Reading request input at the HTTP edge: every mistake becomes a 4xx with a sentence.

Route code asks for what it needs (``query_int``, ``json_object``, ``text_field``) and
gets a value or raises :class:`BadRequest`, which the app's exception handler turns
into ``{"error": "<sentence>"}`` with the status. No bad input reaches a 5xx.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any, cast

from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, Response

from app.errors import BadRequest
from app.json_objects import NotAnObject
from app.json_objects import json_object as parse_object
from app.telephony.sids import is_call_sid

if TYPE_CHECKING:
    from app.server.services import Services

log = logging.getLogger(__name__)

DIGITS = re.compile(r"[0-9]{1,9}")  # ASCII only: int() would also take "٣" or "５"


async def bad_request(request: Request, error: Exception) -> Response:
    assert isinstance(error, BadRequest)
    return error_response(error.message, error.status)


def error_response(message: str, status: int, **extra: object) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status)


def services_of(connection: HTTPConnection) -> Services:
    return cast("Services", connection.app.state.services)


def call_sid_param(request: Request) -> str:
    """The ``{call_sid}`` of the path: a CallSid (CA…) or a softphone call's (SP…)."""
    call_sid: str = request.path_params["call_sid"]
    if not is_call_sid(call_sid):
        raise BadRequest("the call must be a CallSid: CA (or SP) followed by 32 hex digits")
    return call_sid


def client_address(connection: HTTPConnection) -> str:
    """The client's address (a trusted proxy's X-Forwarded-For, else the peer's)."""
    return connection.client.host if connection.client else "unknown"


THROTTLED = "too many wrong tokens from this address; try again in a minute"


async def throttled(connection: HTTPConnection) -> None:
    """429 for an address that got the token wrong too often lately."""
    if await services_of(connection).throttle.blocked(client_address(connection)):
        raise BadRequest(THROTTLED, 429)


async def failed_token(connection: HTTPConnection, what: str) -> None:
    """Count a wrong token (the operator API, the softphone's sign-in and its bearer
    fallback all count into one throttle); the address's first refusal is logged."""
    address = client_address(connection)
    if await services_of(connection).throttle.failed(address):
        log.warning("%s: too many wrong tokens from %s; refusing it for a while", what, address)


def known_query(request: Request, *names: str) -> None:
    """Refuse a query parameter the route does not take (a typo like ?lst=5 would
    otherwise be ignored in silence)."""
    unknown = sorted(set(request.query_params) - set(names))
    if unknown:
        takes = f"it takes {', '.join(names)}" if names else "it takes none"
        raise BadRequest(f"unknown query parameter {unknown[0]!r}: {takes}")


def query_choice(request: Request, name: str, *choices: str) -> str | None:
    raw = request.query_params.get(name)
    if raw is not None and raw not in choices:
        raise BadRequest(f"{name} must be one of {', '.join(choices)} (got {raw!r})")
    return raw


def query_int(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not DIGITS.fullmatch(raw) or not low <= int(raw) <= high:
        raise BadRequest(f"{name} must be a whole number from {low} to {high} (got {raw!r})")
    return int(raw)


async def json_object(request: Request, example: str) -> dict[str, Any]:
    """The body as a JSON object, or :class:`BadRequest` saying to send ``example``."""
    body = await request.body()  # at most BodyLimit's bytes
    try:
        return parse_object(body)
    except NotAnObject as error:
        raise BadRequest(f"the body is {error.reason}; send JSON like {example}") from None


def text_field(body: dict[str, Any], name: str, example: str, max_length: int) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value.strip():
        raise BadRequest(f"{name!r} must be a non-empty string; send JSON like {example}")
    if len(value) > max_length:
        raise BadRequest(f"{name!r} is longer than {max_length} characters")
    return value
