"""A local Gemini Live stand-in: TLS WebSocket server speaking BidiGenerateContent.

The tests run every call against it, and ``python -m app gemini-standin`` runs it for
anyone (see :mod:`app.ops.standin_command`); it also answers the models list and a
model's description over HTTPS, as ``python -m app check --online`` asks them.

Faithful to the wire facts in ``shared/protocol.md``: it accepts the Developer API
path (single or double leading slash), checks ``x-goog-api-key``, expects a ``setup``
message first, accepts camelCase and snake_case keys, and answers as the recorded
service does: **binary** frames of pretty-printed JSON (two-space indent) ending in a
newline, ``setupComplete`` ``{}`` on the Developer API and with a ``sessionId`` on
Vertex AI. :meth:`StandInConnection.send` refuses top-level keys the SDK does not
understand; conformance tests send anything with :meth:`StandInConnection.send_raw`.

Each connection runs a *scenario*: an async function given the
:class:`StandInConnection`, which can send audio, transcripts, ``interrupted``,
``turnComplete``, ``goAway``, resumption handles, or close abruptly. Everything a
connection receives is recorded.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import websockets
from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from app.agent.gemini.catalog import DEV, VERTEX, usable
from app.ops.local_tls import LocalTLS

DEV_PATH = "/ws/google.ai.generativelanguage.{version}.GenerativeService.BidiGenerateContent"
VERTEX_PATH = "/ws/google.cloud.aiplatform.{version}.LlmBidiService/BidiGenerateContent"
# The top-level keys google-genai 3.6.1 reads (tests/e2e/test_wire_conformance.py checks
# that the installed SDK reads each of them).
SERVER_KEYS = frozenset(
    {
        "setupComplete",
        "serverContent",
        "toolCall",
        "toolCallCancellation",
        "goAway",
        "sessionResumptionUpdate",
        "usageMetadata",
        "voiceActivityDetectionSignal",
        "voiceActivity",
    }
)
OUTPUT_MIME = "audio/pcm;rate=24000"
INPUT_MIME = "audio/pcm;rate=16000"

Scenario = Callable[["StandInConnection"], Awaitable[None]]


def wire_text(message: dict[str, Any]) -> str:
    """A server message as the service writes it: indented by two, ending in a newline."""
    return json.dumps(message, indent=2, ensure_ascii=False) + "\n"


class ClientWentAway(Exception):
    """The client closed the connection while a scenario was waiting on it."""


def _pick(obj: dict[str, Any], camel: str) -> Any:
    """A field by its camelCase or snake_case name."""
    snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in camel)
    return obj.get(camel, obj.get(snake))


@dataclass
class StandInConnection:
    ws: ServerConnection
    path: str
    headers: dict[str, str]
    index: int = 0
    setup: dict[str, Any] = field(default_factory=dict)
    received: list[dict[str, Any]] = field(default_factory=list)
    audio: bytearray = field(default_factory=bytearray)
    texts: list[str] = field(default_factory=list)
    sent: list[tuple[float, dict[str, Any]]] = field(default_factory=list)  # JSON objects
    frames_sent: list[str | bytes] = field(default_factory=list)  # every frame, as sent
    frames_received: list[str | bytes] = field(default_factory=list)  # unless not keep_audio
    audio_frames: int = 0
    keep_audio: bool = True  # False: count audio and time its arrival, keep no bytes
    audio_times: list[float] = field(default_factory=list)
    audio_bytes: int = 0
    tool_responses: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> response
    tool_answers: list[dict[str, Any]] = field(default_factory=list)  # all, with id or not
    history: list[dict[str, Any]] = field(default_factory=list)  # client_content turns
    history_complete: bool = False  # a client_content with turnComplete came
    bad_mime: list[str] = field(default_factory=list)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def resume_handle(self) -> str | None:
        """The handle the client presented in its setup (None: a fresh session)."""
        resumption = _pick(self.setup, "sessionResumption") or {}
        handle = resumption.get("handle")
        return str(handle) if handle else None

    @property
    def vertex(self) -> bool:
        return "LlmBidiService" in self.path

    @property
    def bearer(self) -> str | None:
        value = self.headers.get("Authorization") or self.headers.get("authorization")
        return value.removeprefix("Bearer ") if value else None

    @property
    def closed(self) -> bool:
        return self.ws.close_code is not None

    @property
    def audio_ms(self) -> float:
        return self.audio_bytes / 32  # 16 kHz, 2 bytes per sample

    # sending

    async def send(self, message: dict[str, Any]) -> None:
        """One message, as the service writes it; only keys the SDK understands."""
        await self.send_frame(wire_text(message))

    async def send_frame(self, text: str) -> None:
        """A frame already written (a fixture's): sent exactly, as binary, after checking
        that it is one JSON object with only top-level keys the SDK understands."""
        message = json.loads(text)
        assert isinstance(message, dict), text[:200]
        unknown = set(message) - SERVER_KEYS
        assert not unknown, f"the SDK does not understand {unknown}: use send_raw"
        await self.send_raw(text)

    async def send_raw(self, frame: str | bytes, *, binary: bool = True) -> None:
        """Any frame, unchecked (conformance tests: unknown keys, error envelopes);
        binary like the service unless ``binary`` is False."""
        data: str | bytes = frame
        if binary and isinstance(frame, str):
            data = frame.encode()
        elif not binary and isinstance(frame, bytes):
            data = frame.decode()
        try:
            parsed = json.loads(frame)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            self.sent.append((time.monotonic(), parsed))
        self.frames_sent.append(data)
        await self.ws.send(data)

    async def send_audio(
        self,
        pcm24k: bytes,
        *,
        chunk_ms: int = 40,
        realtime: float = 0,
        until: asyncio.Event | None = None,
    ) -> None:
        """Send agent audio as modelTurn parts; ``realtime`` > 0 paces it (1 = real time).

        Stops early once ``until`` is set (the model abandoning its turn).
        """
        step = 48 * chunk_ms
        for offset in range(0, len(pcm24k), step):
            if until is not None and until.is_set():
                return
            chunk = pcm24k[offset : offset + step]
            await self.send(
                {
                    "serverContent": {
                        "modelTurn": {
                            "parts": [
                                {
                                    "inlineData": {
                                        "mimeType": OUTPUT_MIME,
                                        "data": base64.b64encode(chunk).decode(),
                                    }
                                }
                            ]
                        }
                    }
                }
            )
            if realtime:
                await asyncio.sleep(chunk_ms / 1000 / realtime)

    async def transcript(self, who: str, text: str) -> None:
        key = "inputTranscription" if who == "caller" else "outputTranscription"
        await self.send({"serverContent": {key: {"text": text}}})

    async def interrupted(self) -> None:
        await self.send({"serverContent": {"interrupted": True}})

    async def generation_complete(self) -> None:
        await self.send({"serverContent": {"generationComplete": True}})

    async def turn_complete(
        self, *, reason: str | None = None, waiting: bool | None = None, status: str | None = None
    ) -> None:
        """``turnComplete``; Gemini 3.8 adds ``turnCompleteReason``, ``waitingForInput`` and
        ``interactionStatus`` beside it (the SDK team's fixture has the first two)."""
        content: dict[str, Any] = {"turnComplete": True}
        if reason is not None:
            content["turnCompleteReason"] = reason
        if waiting is not None:
            content["waitingForInput"] = waiting
        if status is not None:
            content["interactionStatus"] = status
        await self.send({"serverContent": content})

    async def interaction_status(self, status: str) -> None:
        await self.send({"serverContent": {"interactionStatus": status}})

    async def voice_activity(self, start: bool, offset: str | None = None) -> None:
        """Gemini's own VAD: the wire key is ``type`` (the SDK maps it), the offset a
        duration string like ``"0.360s"``."""
        activity: dict[str, Any] = {"type": "ACTIVITY_START" if start else "ACTIVITY_END"}
        if offset is not None:
            activity["audioOffset"] = offset
        await self.send({"voiceActivity": activity})

    async def go_away(self, time_left: str = "10s") -> None:
        await self.send({"goAway": {"timeLeft": time_left}})

    async def resumption(self, handle: str, resumable: bool = True) -> None:
        await self.send({"sessionResumptionUpdate": {"newHandle": handle, "resumable": resumable}})

    async def usage(self, total: int) -> None:
        await self.send({"usageMetadata": {"totalTokenCount": total}})

    async def tool_call(self, call_id: str | None, name: str, args: dict[str, Any]) -> None:
        """A function call; ``call_id`` None sends it without an id (older Vertex AI)."""
        call: dict[str, Any] = {"name": name, "args": args}
        if call_id is not None:
            call["id"] = call_id
        await self.send({"toolCall": {"functionCalls": [call]}})

    async def cancel_tool_calls(self, *call_ids: str) -> None:
        await self.send({"toolCallCancellation": {"ids": list(call_ids)}})

    async def wait_tool_response(self, call_id: str, timeout: float = 10.0) -> dict[str, Any]:
        await self.wait_for(lambda: call_id in self.tool_responses, timeout)
        return self.tool_responses[call_id]

    async def wait_tool_answers(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """The first ``count`` function responses, with an id or not, in arrival order."""
        await self.wait_for(lambda: len(self.tool_answers) >= count, timeout)
        return self.tool_answers[:count]

    async def close(self, code: int = 1011, reason: str = "internal error") -> None:
        await self.ws.close(code, reason)

    # waiting for what the client sent

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        """Wait until ``predicate()``; ends the scenario quietly if the client hangs up first."""
        async with asyncio.timeout(timeout):
            while not predicate():
                if self.closed:
                    raise ClientWentAway()
                self._changed.clear()
                await self._changed.wait()

    async def wait_audio_ms(self, ms: float, timeout: float = 10.0) -> None:
        await self.wait_for(lambda: self.audio_ms >= ms, timeout)

    async def wait_text(self, timeout: float = 10.0) -> str:
        await self.wait_for(lambda: bool(self.texts), timeout)
        return self.texts[0]

    def _record(self, frame: str | bytes) -> None:
        message = json.loads(frame)
        if self.keep_audio:  # a load benchmark keeps counts and times only
            self.frames_received.append(frame)
            self.received.append(message)
        realtime = _pick(message, "realtimeInput")
        if isinstance(realtime, dict):
            audio = realtime.get("audio")
            if isinstance(audio, dict):
                mime = _pick(audio, "mimeType")
                if mime != INPUT_MIME:
                    self.bad_mime.append(str(mime))
                # The SDK sends URL-safe base64; the service accepts either alphabet.
                data = str(audio["data"]).replace("-", "+").replace("_", "/")
                decoded = base64.b64decode(data, validate=True)
                self.audio_frames += 1
                self.audio_bytes += len(decoded)
                if self.keep_audio:
                    self.audio += decoded
                else:
                    self.audio_times.append(time.monotonic())
            text = realtime.get("text")
            if isinstance(text, str):
                self.texts.append(text)
        content = _pick(message, "clientContent")
        if isinstance(content, dict):
            self.history.extend(content.get("turns") or [])
            self.history_complete = self.history_complete or bool(_pick(content, "turnComplete"))
        answer = _pick(message, "toolResponse")
        if isinstance(answer, dict):
            for response in _pick(answer, "functionResponses") or []:
                self.tool_answers.append(response)
                if response.get("id") is not None:
                    self.tool_responses[str(response["id"])] = response
        self._changed.set()


async def idle(conn: StandInConnection) -> None:
    """The default scenario: listen and record."""


def answer_every_text(reply_pcm24k: bytes) -> Scenario:
    """A model that answers each text it is sent (an instruction) with ``reply_pcm24k``."""

    async def scenario(conn: StandInConnection) -> None:
        def more_than(n: int) -> Callable[[], bool]:
            return lambda: len(conn.texts) > n

        answered = 0
        while True:
            await conn.wait_for(more_than(answered), timeout=30)
            answered += 1
            await conn.send_audio(reply_pcm24k)
            await conn.turn_complete()

    return scenario


class GeminiStandIn:
    """TLS WebSocket server on 127.0.0.1; ``base_url`` and ``ca_file`` point the SDK at it."""

    def __init__(
        self,
        tmp_dir: Path,
        scenario: Scenario = idle,
        api_key: str = "test-key",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.scenario = scenario
        self.api_key = api_key
        # Connection indices that fail during setup (closed before setupComplete).
        self.fail_setup: set[int] | Callable[[int], bool] = set()
        self.keep_audio = True
        # Vertex AI: which bearer tokens are valid (e.g. those a token endpoint issued).
        self.bearer_ok: Callable[[str], bool] = lambda token: False
        self.connections: list[StandInConnection] = []
        # The setupComplete frame a connection gets (a fixture's, say); None: the
        # service's ({} on the Developer API, with a sessionId on Vertex AI).
        self.setup_complete: Callable[[StandInConnection], str] | None = None
        self.rejected: list[str] = []
        self.errors: list[BaseException] = []
        # What the models list answers: name -> supportedGenerationMethods.
        self.models: dict[str, list[str]] = {name: [BIDI] for name in usable(DEV)}
        self.models.update({name: ["generateContent", "countTokens"] for name in TEXT_MODELS})
        self.vertex_models: set[str] = set(usable(VERTEX))
        self.rest_requests: list[str] = []  # the paths of the HTTP requests answered
        tls = LocalTLS.create(tmp_dir / "standin-tls")
        self.ca_file = tls.ca_file
        self._ssl = tls.server_context()
        self._server: Any = None
        self.host = host
        self.port = port

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"https://{host}:{self.port}"

    async def __aenter__(self) -> GeminiStandIn:
        self._server = await serve(
            self._handle, self.host, self.port, ssl=self._ssl, process_request=self._check
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._server.close()
        await self._server.wait_closed()

    def _check(self, conn: ServerConnection, request: Request) -> Response | None:
        path = "/" + request.path.lstrip("/")  # the SDK may send //ws/...
        if "websocket" not in request.headers.get("upgrade", "").lower():
            return self._rest(request, path)
        developer = {DEV_PATH.format(version=v) for v in ("v1beta", "v1alpha", "v1")}
        vertex = {VERTEX_PATH.format(version=v) for v in ("v1beta1", "v1")}
        if path not in developer | vertex:
            self.rejected.append(f"path {request.path}")
            return conn.respond(404, "unknown path\n")
        if path in vertex and request.headers.get("x-goog-api-key") is None:
            authorization = request.headers.get("authorization", "")
            if not authorization.startswith("Bearer ") or not self.bearer_ok(
                authorization.removeprefix("Bearer ")
            ):
                self.rejected.append("bearer token")
                return conn.respond(401, "Request had invalid authentication credentials.\n")
        return None

    def _rest(self, request: Request, path: str) -> Response:
        """The models list and a model's description, as the service answers them (the
        Developer API lists each model's generation methods; Vertex AI only has it)."""
        self.rest_requests.append(path)
        route = path.partition("?")[0]
        parts = route.strip("/").split("/")
        key = request.headers.get("x-goog-api-key")
        vertex = "publishers" in parts
        bearer = request.headers.get("authorization", "").removeprefix("Bearer ")
        if key != self.api_key and not (vertex and key is None and self.bearer_ok(bearer)):
            return _json_response(400, API_KEY_INVALID)
        if vertex and parts[-2:-1] == ["models"]:
            name = parts[-1]
            if name not in self.vertex_models:
                return _json_response(404, _not_found(f"publishers/google/models/{name}"))
            return _json_response(200, {"name": f"publishers/google/models/{name}"})
        if len(parts) == 2 and parts[1] == "models":
            listed = [_described(name, methods) for name, methods in self.models.items()]
            return _json_response(200, {"models": listed})
        if len(parts) == 3 and parts[1] == "models":
            methods = self.models.get(parts[2])
            if methods is None:
                return _json_response(404, _not_found(f"models/{parts[2]}"))
            return _json_response(200, _described(parts[2], methods))
        return _json_response(404, _not_found(route))

    async def _handle(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        headers = dict(ws.request.headers.raw_items())
        conn = StandInConnection(
            ws, ws.request.path, headers, index=len(self.connections), keep_audio=self.keep_audio
        )
        self.connections.append(conn)
        try:
            first = json.loads(await ws.recv())
            setup = first.get("setup")
            if not isinstance(setup, dict) or "model" not in setup:
                await ws.close(1007, "first message must be setup")
                return
            conn.setup = setup
            key = ws.request.headers.get("x-goog-api-key")
            if key != self.api_key and not (conn.vertex and key is None):
                # What the service does with a wrong key: accept, then close with 1008.
                self.rejected.append("api key")
                await ws.close(1008, "API key not valid. Please pass a valid API key.")
                return
            fails = self.fail_setup
            if conn.index in fails if isinstance(fails, set) else fails(conn.index):
                await ws.close(1011, "setup failed")
                return
            if self.setup_complete is not None:
                await conn.send_frame(self.setup_complete(conn))
            else:
                complete = {"sessionId": str(uuid.uuid4())} if conn.vertex else {}
                await conn.send({"setupComplete": complete})
            reader = asyncio.create_task(self._read(conn))
            try:
                await self.scenario(conn)
                await ws.wait_closed()
            finally:
                reader.cancel()
        except (websockets.ConnectionClosed, ClientWentAway):
            pass
        except Exception as error:  # surfaced to the test through self.errors
            self.errors.append(error)
            raise

    async def _read(self, conn: StandInConnection) -> None:
        try:
            async for raw in conn.ws:
                conn._record(raw)
        except websockets.ConnectionClosed:
            pass
        finally:
            conn._changed.set()


BIDI = "bidiGenerateContent"
TEXT_MODELS = ("gemini-2.5-flash", "gemini-3.5-flash", "gemini-3.8-flash")  # no Live API
API_KEY_INVALID = {
    "error": {
        "code": 400,
        "message": "API key not valid. Please pass a valid API key.",
        "status": "INVALID_ARGUMENT",
    }
}


def _not_found(name: str) -> dict[str, Any]:
    return {
        "error": {
            "code": 404,
            "message": f"{name} is not found for API version v1beta.",
            "status": "NOT_FOUND",
        }
    }


def _described(name: str, methods: list[str]) -> dict[str, Any]:
    return {"name": f"models/{name}", "displayName": name, "supportedGenerationMethods": methods}


def _json_response(status: int, body: dict[str, Any]) -> Response:
    data = json.dumps(body, indent=2).encode()
    reason = {200: "OK", 400: "Bad Request", 404: "Not Found"}[status]
    headers = Headers([("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return Response(status, reason, headers, data)
