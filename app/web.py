"""The HTTP edge: Twilio's webhook, the media-stream WebSocket, and health.

``create_app(settings)`` wires everything; the Gemini connector can be injected.
"""

from __future__ import annotations

import contextlib
import logging
from collections import OrderedDict, deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from app import twiml
from app.bridge import BridgeOptions, CallBridge, CallSummary, Outcome
from app.link import LinkPolicy
from app.ports import AgentConnector, SocketClosed
from app.security import SignatureChecker, websocket_url
from app.settings import Settings

log = logging.getLogger(__name__)

STREAM_PATH = "/media-stream"
CALL_ENDED_PATH = "/call-ended"
POLICY_VIOLATION = 1008
TWIML = "application/xml"


class StarletteMediaSocket:
    """Starlette's WebSocket as the bridge's :class:`~app.ports.MediaSocket`."""

    def __init__(self, websocket: WebSocket) -> None:
        self._ws = websocket
        self._closed = False

    async def receive(self) -> str | bytes:
        message = await self._ws.receive()
        if message["type"] == "websocket.disconnect":
            self._closed = True
            raise SocketClosed(message.get("code"))
        text: str | None = message.get("text")
        if text is not None:
            return text
        data: bytes = message.get("bytes") or b""
        return data

    async def send(self, text: str) -> None:
        if self._closed:
            raise SocketClosed()
        try:
            await self._ws.send_text(text)
        except (WebSocketDisconnect, OSError, RuntimeError) as error:
            self._closed = True
            raise SocketClosed(getattr(error, "code", None)) from None

    async def close(self, code: int = 1000, reason: str = "") -> None:
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(OSError, RuntimeError):
            await self._ws.close(code, reason)


@dataclass
class CallBook:
    """Calls in progress, and the recent outcomes the after-stream TwiML needs."""

    active: dict[int, CallBridge] = field(default_factory=dict)
    failed: OrderedDict[str, str] = field(default_factory=OrderedDict)
    recent: deque[CallSummary] = field(default_factory=lambda: deque(maxlen=100))
    completed: int = 0
    limit: int = 10_000

    def finished(self, summary: CallSummary) -> None:
        self.completed += 1
        self.recent.append(summary)
        if summary.outcome is Outcome.AGENT_FAILED and summary.call_sid:
            self.failed[summary.call_sid] = summary.reason
            while len(self.failed) > self.limit:
                self.failed.popitem(last=False)


def bridge_options(settings: Settings) -> BridgeOptions:
    return BridgeOptions(
        greeting=settings.greeting,
        link=LinkPolicy(
            max_attempts=settings.reconnect_max_attempts,
            max_reconnect_s=settings.reconnect_max_seconds,
            buffer_ms=1000 * settings.caller_buffer_seconds,
        ),
        max_call_s=settings.max_call_seconds,
        idle_timeout_s=settings.idle_timeout_seconds,
        goodbye_instruction=settings.goodbye_instruction,
        idle_instruction=settings.idle_instruction,
    )


def create_app(settings: Settings, connector: AgentConnector | None = None) -> Starlette:
    checker = (
        SignatureChecker(settings.twilio_auth_token.get_secret_value(), settings.public_base or "")
        if settings.twilio_auth_token is not None
        else None
    )
    book = CallBook()
    options = bridge_options(settings)
    state: dict[str, AgentConnector] = {}

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if connector is None:
            from app.gemini import GeminiConnector

            state["connector"] = GeminiConnector(settings)
        else:
            state["connector"] = connector
        if checker is None:
            log.warning(
                "TWILIO_AUTH_TOKEN is not set: Twilio signatures are NOT checked; anyone who"
                " finds this server can start calls. Set TWILIO_AUTH_TOKEN and PUBLIC_URL."
            )
        log.info("ready: model %s", settings.gemini_model)
        yield

    def public_base(request: Request | WebSocket) -> str:
        if settings.public_base:
            return settings.public_base
        return f"{request.url.scheme}://{request.url.netloc}"

    async def signed_form(request: Request) -> dict[str, str] | None:
        form = {key: str(value) for key, value in (await request.form()).items()}
        if checker is None:
            return form
        signature = request.headers.get("x-twilio-signature")
        if not checker.webhook_ok(request.url.path, request.url.query, form, signature):
            log.warning(
                "refused %s for call %s: bad or missing X-Twilio-Signature",
                request.url.path,
                form.get("CallSid", "-"),
            )
            return None
        return form

    async def incoming_call(request: Request) -> Response:
        form = await signed_form(request)
        if form is None:
            return PlainTextResponse("invalid signature", status_code=403)
        base = public_base(request)
        call_sid = form.get("CallSid", "")
        log.info("incoming call %s from %s", call_sid or "-", form.get("From", "unknown"))
        body = twiml.connect_stream(
            stream_url=websocket_url(base, STREAM_PATH),
            action_url=base + CALL_ENDED_PATH,
            call_sid=call_sid,
            caller=form.get("From", ""),
            called=form.get("To", ""),
        )
        return Response(body, media_type=TWIML)

    async def call_ended(request: Request) -> Response:
        form = await signed_form(request)
        if form is None:
            return PlainTextResponse("invalid signature", status_code=403)
        call_sid = form.get("CallSid", "")
        reason = book.failed.pop(call_sid, None)
        if reason is not None:
            log.info("call %s: playing the apology after the stream failed", call_sid)
            return Response(twiml.apology(settings.apology_message), media_type=TWIML)
        return Response(twiml.hangup(), media_type=TWIML)

    async def media_stream(websocket: WebSocket) -> None:
        if checker is not None and not checker.stream_ok(
            STREAM_PATH, websocket.headers.get("x-twilio-signature")
        ):
            log.warning("refused a media-stream handshake: bad or missing X-Twilio-Signature")
            await websocket.close(code=POLICY_VIOLATION)  # before accept: HTTP 403
            return
        await websocket.accept()
        bridge = CallBridge(StarletteMediaSocket(websocket), state["connector"], options)
        book.active[id(bridge)] = bridge
        try:
            book.finished(await bridge.run())
        finally:
            del book.active[id(bridge)]

    async def healthz(request: Request) -> Response:
        return JSONResponse(
            {
                "status": "ok",
                "active_calls": len(book.active),
                "calls_handled": book.completed,
                "model": settings.gemini_model,
                "signature_validation": checker is not None,
            }
        )

    app = Starlette(
        routes=[
            Route("/incoming-call", incoming_call, methods=["POST"]),
            Route(CALL_ENDED_PATH, call_ended, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            WebSocketRoute(STREAM_PATH, media_stream),
        ],
        lifespan=lifespan,
    )
    app.state.book = book
    return app
