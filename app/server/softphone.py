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
from html import escape
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from starlette.requests import HTTPConnection, Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from app.security import POLICY_VIOLATION, token_matches
from app.server.inputs import known_query, query_choice, services_of
from app.server.media import run_call
from app.server.softphone_access import COOKIE, COOKIE_SECONDS, SoftphoneAccess
from app.server.switchboard import STREAM_TOKEN_PARAMETER

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
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
OPEN_WARNING = (
    "ENABLE_SOFTPHONE is on without OPERATOR_TOKEN: anyone who can reach %s can start"
    " calls from a browser (on your Gemini account unless AGENT=echo). Development only."
)
LOGIN_PAGE = """<!doctype html><html lang="en"><meta charset="utf-8">
<title>Softphone: sign in</title>
<body style="font-family: system-ui, sans-serif; max-width: 30rem; margin: 3rem auto">
<h1>Softphone</h1><p>{message}</p>
<form method="get" action="{action}"><label>Operator token
<input name="token" type="password" autocomplete="current-password" required></label>
<button>Open</button></form></body></html>"""


def access_of(connection: HTTPConnection) -> SoftphoneAccess:
    access = services_of(connection).softphone
    assert access is not None  # the routes exist only with ENABLE_SOFTPHONE
    return access


def login(message: str, status: int) -> Response:
    body = LOGIN_PAGE.format(message=escape(message), action=PAGE_PATH)
    return HTMLResponse(body, status_code=status, headers=PAGE_HEADERS)


async def page(request: Request) -> Response:
    known_query(request, "token", "processing", "tap")
    query_choice(request, "processing", "on", "off")  # read by the page's script
    query_choice(request, "tap", "0", "1")
    access = access_of(request)
    if access.allowed(request):
        page_html = (STATIC / "softphone.html").read_text(encoding="utf-8")
        return HTMLResponse(page_html, headers=PAGE_HEADERS)
    supplied = request.query_params.get("token")
    if supplied is None:
        return login("Enter the operator token (OPERATOR_TOKEN) to use the softphone.", 401)
    if not token_matches(supplied, access.operator_token):
        log.warning("softphone: wrong operator token from %s", _client(request))
        return login("That is not the operator token.", 401)
    # The token leaves the address bar at once; the cookie carries a value derived from it.
    # Other options in the address (?processing=off) stay.
    kept = urlencode([(k, v) for k, v in request.query_params.multi_items() if k != "token"])
    answer = RedirectResponse(PAGE_PATH + (f"?{kept}" if kept else ""), status_code=303)
    answer.set_cookie(
        COOKIE,
        access.cookie_value(),
        max_age=COOKIE_SECONDS,
        path=PAGE_PATH,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",  # proxy headers make this true behind TLS
    )
    return answer


async def asset(request: Request) -> Response:
    if not access_of(request).allowed(request):
        return Response("sign in at /softphone first", status_code=401)
    name = request.path_params["name"]
    media_type = ASSETS.get(name)
    if media_type is None:
        return Response("not found", status_code=404)
    script = (STATIC / name).read_text(encoding="utf-8")
    return Response(script, media_type=media_type, headers={"X-Content-Type-Options": "nosniff"})


async def session(request: Request) -> Response:
    """A CallSid and a one-use stream token, as the voice webhook gives Twilio."""
    if not same_origin(request):
        log.warning("softphone: refused a session asked for by the page at %r", _origin(request))
        return JSONResponse({"error": "not from this server's page"}, status_code=403)
    if not access_of(request).allowed(request):
        return JSONResponse({"error": "sign in at /softphone first"}, status_code=401)
    call_sid = "SP" + secrets.token_hex(16)
    token = services_of(request).board.offer(call_sid)
    if token is None:
        log.warning("softphone call turned away: no capacity or shutting down")
        return JSONResponse({"error": "the server is busy; try again"}, status_code=503)
    log.info("softphone call %s from %s", call_sid, _client(request))
    return JSONResponse(
        {
            "callSid": call_sid,
            "parameters": {
                "callSid": call_sid,
                "from": CALLER,
                "to": CALLER,
                "direction": "inbound",
                STREAM_TOKEN_PARAMETER: token,
            },
        },
        headers={"Cache-Control": "no-store"},
    )


async def stream(websocket: WebSocket) -> None:
    if not same_origin(websocket):
        log.warning("refused a softphone stream opened by the page at %r", _origin(websocket))
        await websocket.close(code=POLICY_VIOLATION)
        return
    if not access_of(websocket).allowed(websocket):
        log.warning("refused a softphone stream from %s: not signed in", _client(websocket))
        await websocket.close(code=POLICY_VIOLATION)  # before accept: HTTP 403
        return
    await run_call(websocket, services_of(websocket).softphone_options)


ROUTES = [
    Route(PAGE_PATH, page, methods=["GET"]),
    Route(PAGE_PATH + "/session", session, methods=["POST"]),
    Route(PAGE_PATH + "/{name:str}", asset, methods=["GET"]),
    WebSocketRoute(STREAM_PATH, stream),
]


def same_origin(connection: HTTPConnection) -> bool:
    """No page on another site may start calls here (what keeps an open, development
    softphone on localhost from being used by any web page the developer visits).
    Requests without an Origin (curl, scripts) are not from a page."""
    origin = _origin(connection)
    if origin == "-":
        return True
    return urlsplit(origin).netloc.lower() == connection.headers.get("host", "").lower()


def _origin(connection: HTTPConnection) -> str:
    return connection.headers.get("origin", "-")


def _client(connection: HTTPConnection) -> str:
    return connection.client.host if connection.client else "unknown"
