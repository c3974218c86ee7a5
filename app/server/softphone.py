"""The softphone: a browser page that calls the bot the way Twilio does.

``GET /softphone`` serves the page (``app/static``); ``POST /softphone/session`` hands
it a CallSid and a one-use stream token, as the voice webhook hands Twilio; the page
then opens ``WS /softphone/stream`` on its own origin (so its cookie goes along) and
speaks the Media Streams protocol, so the call runs through the same bridge as a
phone call. A browser cannot sign requests the way
Twilio does, so this path checks a cookie instead: set from ``OPERATOR_TOKEN`` (open
without one, which settings allow only in development).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from html import escape
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from starlette.requests import HTTPConnection, Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket

from app.security import POLICY_VIOLATION, bearer_matches, token_matches
from app.switchboard import STREAM_TOKEN_PARAMETER, Switchboard

log = logging.getLogger(__name__)

PAGE_PATH = "/softphone"
STREAM_PATH = "/softphone/stream"
COOKIE = "softphone"
COOKIE_SECONDS = 12 * 3600
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


@dataclass(frozen=True)
class SoftphoneAccess:
    """Who may use the softphone: holders of the operator token (everyone without one)."""

    operator_token: str | None

    @property
    def open(self) -> bool:
        return self.operator_token is None

    def cookie_value(self) -> str:
        """Derived from the token, so the cookie does not carry the token itself."""
        assert self.operator_token is not None
        return hmac.new(
            self.operator_token.encode(), b"softphone-cookie-v1", hashlib.sha256
        ).hexdigest()

    def allowed(self, connection: HTTPConnection) -> bool:
        """An open softphone, the cookie, or the operator token as a bearer."""
        if self.open:
            return True
        if token_matches(connection.cookies.get(COOKIE, ""), self.cookie_value()):
            return True
        return bearer_matches(connection.headers.get("authorization", ""), self.operator_token)


def softphone_routes(
    access: SoftphoneAccess,
    board: Switchboard,
    run_call: Callable[[WebSocket], Awaitable[None]],
) -> list[BaseRoute]:
    """The page, its scripts, the session endpoint and the stream."""

    def login(message: str, status: int) -> Response:
        body = LOGIN_PAGE.format(message=escape(message), action=PAGE_PATH)
        return HTMLResponse(body, status_code=status, headers=PAGE_HEADERS)

    async def page(request: Request) -> Response:
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
        if not access.allowed(request):
            return Response("sign in at /softphone first", status_code=401)
        name = request.path_params["name"]
        media_type = ASSETS.get(name)
        if media_type is None:
            return Response("not found", status_code=404)
        script = (STATIC / name).read_text(encoding="utf-8")
        return Response(
            script, media_type=media_type, headers={"X-Content-Type-Options": "nosniff"}
        )

    async def session(request: Request) -> Response:
        """A CallSid and a one-use stream token, as the voice webhook gives Twilio."""
        if not same_origin(request):
            log.warning(
                "softphone: refused a session asked for by the page at %s", _origin(request)
            )
            return JSONResponse({"error": "not from this server's page"}, status_code=403)
        if not access.allowed(request):
            return JSONResponse({"error": "sign in at /softphone first"}, status_code=401)
        if not board.has_room():
            board.refused += 1
            log.warning("softphone call turned away: no capacity or shutting down")
            return JSONResponse({"error": "the server is busy; try again"}, status_code=503)
        call_sid = "SP" + secrets.token_hex(16)
        log.info("softphone call %s from %s", call_sid, _client(request))
        return JSONResponse(
            {
                "callSid": call_sid,
                "parameters": {
                    "callSid": call_sid,
                    "from": CALLER,
                    "to": CALLER,
                    "direction": "inbound",
                    STREAM_TOKEN_PARAMETER: board.issue_token(call_sid),
                },
            },
            headers={"Cache-Control": "no-store"},
        )

    async def stream(websocket: WebSocket) -> None:
        if not same_origin(websocket):
            log.warning("refused a softphone stream opened by the page at %s", _origin(websocket))
            await websocket.close(code=POLICY_VIOLATION)
            return
        if not access.allowed(websocket):
            log.warning("refused a softphone stream from %s: not signed in", _client(websocket))
            await websocket.close(code=POLICY_VIOLATION)  # before accept: HTTP 403
            return
        await run_call(websocket)

    return [
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
