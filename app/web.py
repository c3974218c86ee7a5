"""The HTTP edge: Twilio's webhook, the media-stream WebSocket, and health.

``create_app(settings)`` wires everything; the Gemini connector can be injected.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import hmac
import logging
import os
import secrets
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from app import twiml
from app.bridge import BridgeOptions, CallBridge
from app.echo import EchoConnector
from app.link import LinkPolicy
from app.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from app.metrics import PrometheusMetrics
from app.outbound import (
    CALL_STATUS_PATH,
    OutboundNotConfigured,
    place_call,
    require_rest,
    rest_client,
)
from app.ports import AgentConnector, SocketClosed
from app.records import CallRecords
from app.security import POLICY_VIOLATION, SignatureChecker, bearer_matches, websocket_url
from app.settings import Settings
from app.softphone import OPEN_WARNING, SoftphoneAccess, softphone_routes
from app.stream_token import StreamTokens
from app.switchboard import Switchboard
from app.tools import Tool, end_call_tool, load_tools, transfer_call_tool
from app.twilio_rest import TwilioRestError

log = logging.getLogger(__name__)

Endpoint = Callable[[Request], Awaitable[Response]]
FormHandler = Callable[[Request, dict[str, str]], Awaitable[Response]]

STREAM_PATH = "/media-stream"
CALL_ENDED_PATH = "/call-ended"
STREAM_STATUS_PATH = "/stream-status"
PROCESS_ID = f"{socket.gethostname()}:{os.getpid()}"
WS_MAX_SIZE = 64 * 1024  # Twilio frames are ~400 bytes; a larger one is closed with 1009
UNSIGNED_WARNING = (
    "ALLOW_UNSIGNED_REQUESTS is on and TWILIO_AUTH_TOKEN is not set: Twilio signatures are"
    " NOT checked, so anyone who finds this server can start calls on your Gemini account."
    " Use this for local development only."
)
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
        # The peer may already be gone (a browser tab closed): nothing left to tell it.
        with contextlib.suppress(OSError, RuntimeError, WebSocketDisconnect):
            await self._ws.close(code, reason)


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
        max_malformed=settings.max_malformed_messages,
        max_messages_per_s=settings.max_messages_per_second,
        tool_timeout_s=settings.tool_timeout_seconds,
        transfer_targets=settings.transfer_map,
        forward_dtmf=settings.forward_dtmf,
        fast_barge_in=settings.fast_barge_in,
        recordings_dir=Path(settings.recordings_dir) if settings.recordings_dir else None,
        outbound_greeting=settings.outbound_greeting,
    )


def stream_token_secret(settings: Settings) -> bytes:
    """Derived from the auth token, so every process of a deployment agrees; random without."""
    if settings.twilio_auth_token is None:
        return secrets.token_bytes(32)
    key = settings.twilio_auth_token.get_secret_value().encode()
    return hmac.new(key, b"stream-token-v1", hashlib.sha256).digest()


def declared_tools(settings: Settings) -> tuple[Tool, ...]:
    """The operator's tools (imported now, so a broken one stops startup) and built-ins."""
    tools = load_tools(settings.tool_module_paths)
    if settings.enable_end_call:
        tools.append(end_call_tool())
    if settings.transfer_map:
        tools.append(transfer_call_tool(list(settings.transfer_map)))
    return tuple(tools)


def create_app(settings: Settings, connector: AgentConnector | None = None) -> Starlette:
    checker = (
        SignatureChecker(settings.twilio_auth_token.get_secret_value(), settings.public_base or "")
        if settings.twilio_auth_token is not None
        else None
    )
    board = Switchboard(
        StreamTokens(stream_token_secret(settings), settings.stream_token_ttl_seconds),
        settings.max_concurrent_calls,
    )
    tools = declared_tools(settings)
    options = dataclasses.replace(
        bridge_options(settings), admit=board.admit, tools=tools, on_transfer=board.transfer
    )
    softphone_options = dataclasses.replace(options, live_transcripts=True)
    rest = rest_client(settings)
    metrics = PrometheusMetrics()
    records = CallRecords(Path(settings.call_records_path)) if settings.call_records_path else None
    if connector is None and settings.agent == "echo":
        connector = EchoConnector()
    elif connector is None:
        from app.gemini import GeminiConnector

        connector = GeminiConnector(settings, tools)  # checks credentials now, not mid-call
    state: dict[str, AgentConnector] = {"connector": connector}
    operator_token = settings.operator_token.get_secret_value() if settings.operator_token else None
    softphone = SoftphoneAccess(operator_token) if settings.enable_softphone else None

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if checker is None:
            log.warning(UNSIGNED_WARNING)
        log.info(
            "ready: %s model %s, up to %d calls, signatures %s",
            "ECHO MODE (no Gemini):"
            if settings.agent == "echo"
            else ("Vertex AI" if settings.vertex else "Gemini Developer API"),
            "-" if settings.agent == "echo" else settings.model,
            settings.max_concurrent_calls,
            "checked" if checker else "NOT CHECKED",
        )
        if tools:
            log.info("tools: %s", ", ".join(t.name for t in tools))
        if softphone is not None and softphone.open:
            log.warning(OPEN_WARNING, f"{settings.public_base or ''}/softphone")
        elif softphone is not None:
            log.info(
                "softphone at %s/softphone (opened with OPERATOR_TOKEN)", settings.public_base or ""
            )
        yield
        if rest is not None:
            await rest.aclose()
        if records is not None:
            records.close()

    def public_base(request: HTTPConnection) -> str:
        if settings.public_base:
            return settings.public_base
        return f"{request.url.scheme}://{request.url.netloc}"

    def twilio_signed(handler: FormHandler) -> Endpoint:
        """A Twilio webhook: 403 unless signed; the handler gets the form."""

        async def endpoint(request: Request) -> Response:
            form = await signed_form(request)
            if form is None:
                return PlainTextResponse("invalid signature", status_code=403)
            return await handler(request, form)

        return endpoint

    def operator_only(handler: Endpoint) -> Endpoint:
        """An operator endpoint: 401 without the right bearer token."""

        async def endpoint(request: Request) -> Response:
            if not operator_ok(request):
                return JSONResponse({"error": "missing or wrong bearer token"}, status_code=401)
            return await handler(request)

        return endpoint

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

    async def incoming_call(request: Request, form: dict[str, str]) -> Response:
        base = public_base(request)
        call_sid = form.get("CallSid", "")
        if not board.has_room():
            board.refused += 1
            log.warning(
                "call %s turned away: %s",
                call_sid or "-",
                "shutting down" if board.draining else f"{len(board.active)} calls in progress",
            )
            return Response(twiml.say_and_hang_up(settings.busy_message), media_type=TWIML)
        outbound = form.get("Direction", "").startswith("outbound")
        log.info(
            "%s call %s %s %s",
            "outbound" if outbound else "incoming",
            call_sid or "-",
            "to" if outbound else "from",
            form.get("To" if outbound else "From", "unknown"),
        )
        body = twiml.connect_stream(
            stream_url=websocket_url(base, STREAM_PATH),
            action_url=base + CALL_ENDED_PATH,
            status_url=base + STREAM_STATUS_PATH,
            call_sid=call_sid,
            caller=form.get("From", ""),
            called=form.get("To", ""),
            stream_token=board.issue_token(call_sid),
            direction="outbound" if outbound else "inbound",
        )
        return Response(body, media_type=TWIML)

    async def stream_status(request: Request, form: dict[str, str]) -> Response:
        event, error = form.get("StreamEvent", "-"), form.get("StreamError", "")
        level = logging.WARNING if event == "stream-error" else logging.INFO
        log.log(
            level,
            "[call %s stream %s] Twilio reports %s %s",
            form.get("CallSid", "-"),
            form.get("StreamSid", "-"),
            event,
            error,
        )
        return Response(status_code=204)

    async def call_ended(request: Request, form: dict[str, str]) -> Response:
        call_sid = form.get("CallSid", "")
        number = board.transfers.pop(call_sid, None)
        if number is not None:
            log.info("call %s: dialling the transfer target after the stream", call_sid)
            return Response(twiml.transfer_twiml(number), media_type=TWIML)
        reason = board.failed.pop(call_sid, None)
        if reason is not None:
            log.info("call %s: playing the apology after the stream failed", call_sid)
            return Response(twiml.say_and_hang_up(settings.apology_message), media_type=TWIML)
        return Response(twiml.hangup(), media_type=TWIML)

    async def media_stream(websocket: WebSocket) -> None:
        if checker is not None and not checker.stream_ok(
            STREAM_PATH, websocket.headers.get("x-twilio-signature")
        ):
            log.warning("refused a media-stream handshake: bad or missing X-Twilio-Signature")
            await websocket.close(code=POLICY_VIOLATION)  # before accept: HTTP 403
            return
        await run_call(websocket, options)

    async def softphone_call(websocket: WebSocket) -> None:
        await run_call(websocket, softphone_options)

    async def run_call(websocket: WebSocket, call_options: BridgeOptions) -> None:
        await websocket.accept()
        bridge = CallBridge(
            StarletteMediaSocket(websocket),
            state["connector"],
            call_options,
            rest,
            metrics,
            records,
        )
        board.started(bridge)
        summary = None
        try:
            summary = await bridge.run()
        finally:
            if summary is None:
                board.gone(bridge)
            else:
                board.finished(bridge, summary)

    async def call_status(request: Request, form: dict[str, str]) -> Response:
        log.info(
            "[call %s] Twilio reports the call %s (%s s)",
            form.get("CallSid", "-"),
            form.get("CallStatus", "-"),
            form.get("CallDuration", "-"),
        )
        return Response(status_code=204)

    async def create_call(request: Request) -> Response:
        try:
            body = await request.json()
            to = str(body["to"])
        except (ValueError, KeyError, TypeError):
            return JSONResponse({"error": 'send JSON like {"to": "+15551234567"}'}, status_code=400)
        try:
            placed = await place_call(settings, require_rest(settings, placing_calls=True), to)
        except OutboundNotConfigured as missing:
            return JSONResponse({"error": f"outbound calls are off: {missing}"}, status_code=503)
        except ValueError as bad:
            return JSONResponse({"error": str(bad)}, status_code=400)
        except TwilioRestError as error:
            log.error("placing a call to %s failed: %s", to, error)
            return JSONResponse({"error": str(error)}, status_code=502)
        log.info("placed call %s to %s", placed.sid, placed.to)
        return JSONResponse(
            {"sid": placed.sid, "to": placed.to, "status": placed.status}, status_code=201
        )

    async def control_call(request: Request) -> Response:
        """Steer a call in progress: say, hangup or transfer."""
        call_sid, action = request.path_params["call_sid"], request.path_params["action"]
        if action not in ("say", "hangup", "transfer"):
            return JSONResponse({"error": "controls are say, hangup and transfer"}, 404)
        bridge = board.find(call_sid)
        if bridge is None:
            return JSONResponse(
                {
                    "error": f"call {call_sid} is not in progress on this server process"
                    " (it has ended, never existed, or is held by another process)",
                    "process": PROCESS_ID,
                },
                status_code=404,
            )
        try:
            body = await request.json() if action != "hangup" else {}
        except ValueError:
            return JSONResponse({"error": "send a JSON body"}, status_code=400)
        if action == "say":
            text = body.get("text") if isinstance(body, dict) else None
            if not isinstance(text, str) or not text.strip():
                return JSONResponse({"error": 'send JSON like {"text": "..."}'}, status_code=400)
            await bridge.operator_say(text)
            return JSONResponse({"status": "sent", "call": call_sid}, status_code=202)
        if action == "hangup":
            await bridge.end_politely("an operator ended the call")
            return JSONResponse({"status": "ending", "call": call_sid}, status_code=202)
        target = body.get("target") if isinstance(body, dict) else None
        problem = await bridge.operator_transfer(str(target)) if target else "name a target"
        if problem is not None:
            return JSONResponse({"error": problem}, status_code=400)
        return JSONResponse({"status": "transferring", "call": call_sid}, status_code=202)

    def operator_ok(request: Request) -> bool:
        return bearer_matches(request.headers.get("authorization", ""), operator_token)

    async def list_calls(request: Request) -> Response:
        if records is None:
            return JSONResponse({"error": "call records are off (CALL_RECORDS_PATH)"}, 404)
        call_sid = request.path_params.get("call_sid")
        if call_sid is None:
            last = min(int(request.query_params.get("last", "50") or 50), 1000)
            return JSONResponse({"calls": records.recent(last)})
        record = records.get(call_sid)
        if record is None:
            return JSONResponse({"error": f"no record of call {call_sid}"}, status_code=404)
        return JSONResponse(record)

    async def metrics_page(request: Request) -> Response:
        return Response(metrics.render(), media_type=METRICS_CONTENT_TYPE)

    async def healthz(request: Request) -> Response:
        body: dict[str, object] = {
            "status": "draining" if board.draining else "ok",
            "active_calls": len(board.active),
            "max_concurrent_calls": settings.max_concurrent_calls,
            "calls_handled": board.completed,
            "calls_refused": board.refused,
            "model": settings.model,
            "signature_validation": checker is not None,
        }
        if checker is None:
            body["warning"] = UNSIGNED_WARNING
        return JSONResponse(body, status_code=503 if board.draining else 200)

    app = Starlette(
        routes=[
            Route("/incoming-call", twilio_signed(incoming_call), methods=["POST"]),
            Route(CALL_ENDED_PATH, twilio_signed(call_ended), methods=["POST"]),
            Route(STREAM_STATUS_PATH, twilio_signed(stream_status), methods=["POST"]),
            Route(CALL_STATUS_PATH, twilio_signed(call_status), methods=["POST"]),
            Route("/calls", operator_only(create_call), methods=["POST"]),
            Route("/calls", operator_only(list_calls), methods=["GET"]),
            Route("/calls/{call_sid}", operator_only(list_calls), methods=["GET"]),
            Route(
                "/calls/{call_sid}/{action:str}",
                operator_only(control_call),
                methods=["POST"],
            ),
            Route("/healthz", healthz, methods=["GET"]),
            # Scraped with the operator token when there is one, openly otherwise.
            Route(
                "/metrics",
                operator_only(metrics_page) if settings.operator_token else metrics_page,
                methods=["GET"],
            ),
            WebSocketRoute(STREAM_PATH, media_stream),
            *(softphone_routes(softphone, board, softphone_call) if softphone else []),
        ],
        lifespan=lifespan,
    )
    app.state.board = board
    app.state.metrics = metrics
    return app
