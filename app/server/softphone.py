"""The softphone: a browser page that calls the bot the way Twilio does.

``GET /softphone`` serves the page (``app/server/static``); ``POST /softphone/session`` hands
it a CallSid and a one-use stream token, as the voice webhook hands Twilio; the page
then opens ``WS /softphone/stream`` on its own origin (so its cookie goes along) and
speaks the Media Streams protocol, so the call runs through the same bridge as a
phone call. A browser cannot sign requests the way
Twilio does, so this path checks a cookie instead: set from ``OPERATOR_TOKEN`` (open
without one, which settings allow only in development).
"""

from __future__ import annotations

import logging
import secrets
import time
from html import escape
from pathlib import Path
from string import Template
from urllib.parse import urlencode, urlsplit

from starlette.requests import HTTPConnection, Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from app.addressing import host_name
from app.errors import BadRequest, CallRefused
from app.server import favicon
from app.server.inputs import (
    client_address,
    failed_token,
    known_query,
    query_choice,
    services_of,
    throttled,
)
from app.server.media import run_call
from app.server.softphone_access import COOKIE, COOKIE_SECONDS, SoftphoneAccess
from app.telephony.signatures import POLICY_VIOLATION, token_matches

log = logging.getLogger(__name__)

PAGE_PATH = "/softphone"
STREAM_PATH = "/softphone/stream"
STATIC = Path(__file__).parent / "static"
ASSETS = {  # served from PAGE_PATH/<name>; nothing else under it is a file
    "softphone.js": "text/javascript",
    "softphone-audio.js": "text/javascript",
    "softphone-worklet.js": "text/javascript",
}
CALLER = "softphone"
# The page runs only its own scripts, talks only to this server, and is never framed.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline';"
    " connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    # same-origin, not no-referrer: with no-referrer, Chromium sends "Origin: null" on
    # the sign-in form's POST, and the origin check could not tell it from a foreign page.
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
OPEN_WARNING = (
    "ENABLE_SOFTPHONE is on without OPERATOR_TOKEN: anyone who can reach %s can start"
    " calls from a browser (on your Gemini account unless AGENT=echo). Development only."
)
LOGIN_PAGE = Template((STATIC / "signin.html").read_text(encoding="utf-8"))
PAGE_OPTIONS = ("processing", "tap")  # read by the page's script; kept across sign-in


def access_of(connection: HTTPConnection) -> SoftphoneAccess:
    access = services_of(connection).softphone
    assert access is not None  # the routes exist only with ENABLE_SOFTPHONE
    return access


def page_options(request: Request) -> str:
    known_query(request, "token", *PAGE_OPTIONS)
    query_choice(request, "processing", "on", "off")
    query_choice(request, "tap", "0", "1")
    kept = [(k, v) for k, v in request.query_params.multi_items() if k in PAGE_OPTIONS]
    return urlencode(kept)


def login(message: str, status: int, options: str) -> Response:
    action = PAGE_PATH + (f"?{options}" if options else "")
    body = LOGIN_PAGE.substitute(message=escape(message), action=escape(action))
    return HTMLResponse(body, status_code=status, headers=PAGE_HEADERS)


async def page(request: Request) -> Response:
    options = page_options(request)
    if not access_of(request).known_page(request):
        return unknown_page(request)
    if await signed_in(request):
        page_html = (STATIC / "softphone.html").read_text(encoding="utf-8")
        return HTMLResponse(page_html, headers=PAGE_HEADERS)
    if "token" in request.query_params:  # an old link: it signs nobody in
        await failed_token(request, "softphone sign-in")
        message = (
            "Sign in with this form: a token in the address ends up in logs and browser"
            " history, so it is not accepted there."
        )
        return login(message, 401, options)
    return login("Enter the operator token (OPERATOR_TOKEN) to use the softphone.", 401, options)


async def sign_in(request: Request) -> Response:
    """The sign-in form's POST (never a token in an address, where logs keep it)."""
    options = page_options(request)
    access = access_of(request)
    if not access.known_page(request):
        return unknown_page(request)
    await throttled(request)
    form = await request.form()
    supplied = form.get("token")
    accepted = isinstance(supplied, str) and token_matches(
        supplied, access.operator_token, time.time()
    )
    if not accepted:
        await failed_token(request, "softphone sign-in")
        return login("That is not the operator token.", 401, options)
    answer = RedirectResponse(PAGE_PATH + (f"?{options}" if options else ""), status_code=303)
    answer.set_cookie(
        COOKIE,
        access.new_cookie(time.time()),
        max_age=COOKIE_SECONDS,
        path=PAGE_PATH,
        httponly=True,
        samesite="strict",
        secure=secure_cookie(request),
    )
    return answer


def secure_cookie(request: Request) -> bool:
    """Over https; or addressed to PUBLIC_URL's host, which only a TLS proxy serves
    (whose X-Forwarded-Proto may not be trusted)."""
    public = urlsplit(services_of(request).settings.public_base or "")
    via_public = public.scheme == "https" and host_name(request.headers.get("host", "")) == (
        public.hostname or ""
    )
    return request.url.scheme == "https" or via_public


def unknown_page(connection: HTTPConnection) -> Response:
    # What the request said (its Host, its Origin) is not logged: it is the attacker's.
    log.warning("softphone: refused a request from a page of a host it does not serve")
    return JSONResponse({"error": "not from this server's page"}, status_code=403)


async def signed_in(connection: HTTPConnection) -> bool:
    """An open softphone, a valid cookie, or the operator token as a bearer. A wrong
    bearer counts in the operator API's throttle (429 once it has had its tries), so
    the fallback is no oracle for guessing the token."""
    await throttled(connection)
    if access_of(connection).allowed(connection, time.time()):
        return True
    if connection.headers.get("authorization"):
        await failed_token(connection, "softphone bearer token")
    return False


async def refusal(request: Request, not_signed_in: Response) -> Response | None:
    """Why a request for the softphone's scripts or a session is refused, if it is: a
    page of another host, or nobody signed in."""
    known_query(request)
    if not access_of(request).known_page(request):
        return unknown_page(request)
    if not await signed_in(request):
        return not_signed_in
    return None


async def asset(request: Request) -> Response:
    rejection = await refusal(request, Response("sign in at /softphone first", status_code=401))
    if rejection is not None:
        return rejection
    name = request.path_params["name"]
    media_type = ASSETS.get(name)
    if media_type is None:
        return Response("not found", status_code=404)
    script = (STATIC / name).read_text(encoding="utf-8")
    return Response(script, media_type=media_type, headers={"X-Content-Type-Options": "nosniff"})


async def session(request: Request) -> Response:
    """A CallSid and a one-use stream token, as the voice webhook gives Twilio."""
    rejection = await refusal(request, JSONResponse({"error": "sign in at /softphone first"}, 401))
    if rejection is not None:
        return rejection
    call_sid = "SP" + secrets.token_hex(16)
    vouched = {"from": CALLER, "to": CALLER, "direction": "inbound"}
    try:
        parameters = await services_of(request).calls.offer(call_sid, vouched)
    except CallRefused as refused:
        log.warning("softphone call turned away: %s", refused.reason)
        return JSONResponse({"error": "the server is busy; try again"}, status_code=503)
    log.info("softphone call %s from %s", call_sid, client_address(request))
    return JSONResponse(
        {"callSid": call_sid, "parameters": parameters},
        headers={"Cache-Control": "no-store"},
    )


async def deny(websocket: WebSocket, message: str, status: int) -> None:
    """Refuse a WebSocket before accepting it, with an HTTP answer (403 without the
    server's support for one)."""
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        await websocket.send_denial_response(JSONResponse({"error": message}, status))
    else:
        await websocket.close(code=POLICY_VIOLATION)


async def stream(websocket: WebSocket) -> None:
    access = access_of(websocket)
    if not access.known_page(websocket):
        unknown_page(websocket)
        await websocket.close(code=POLICY_VIOLATION)  # before accept: HTTP 403
        return
    try:
        allowed = await signed_in(websocket)
    except BadRequest as throttle:  # before accept, answered as HTTP where the server can
        await deny(websocket, throttle.message, throttle.status)
        return
    if not allowed:
        log.warning("refused a softphone stream from %s: not signed in", client_address(websocket))
        await websocket.close(code=POLICY_VIOLATION)
        return
    await run_call(websocket, services_of(websocket).softphone_options)


ROUTES = [
    *favicon.ROUTES,
    Route(PAGE_PATH, page, methods=["GET"]),
    Route(PAGE_PATH, sign_in, methods=["POST"]),
    Route(PAGE_PATH + "/session", session, methods=["POST"]),
    Route(PAGE_PATH + "/{name:str}", asset, methods=["GET"]),
    WebSocketRoute(STREAM_PATH, stream),
]
