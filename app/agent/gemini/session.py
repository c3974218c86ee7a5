# edge: the google-genai SDK's live sessions
"""Gemini Live adapter: with :mod:`app.agent.gemini.config`, all of the project that
imports ``google-genai``.

It opens one live session per call, and translates SDK messages into :mod:`app.agent.events`, so the
bridge never sees an SDK object. SDK failures become :class:`AgentSessionError`.

What the service sends and the SDK cannot read does not end a session: a message whose
top-level keys the SDK does not know (new kinds keep arriving), or whose content it
rejects, becomes an :class:`~app.agent.events.Ignored` event and the session goes on. The
service's error envelope (``{"error": {"code", "status", "message"}}``) ends the session
as a close with that code would: 4xx (the request is wrong) is not retried, anything
else is.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import google.auth
import google.auth.credentials
import google.auth.exceptions
import google.oauth2.credentials
import websockets
from google import genai
from google.genai import errors, types

from app.agent.events import (
    IN_PROGRESS,
    AgentAudio,
    AgentEvent,
    GenerationComplete,
    GoAway,
    HistoryTurn,
    Ignored,
    InteractionStatus,
    Interrupted,
    ResumptionHandle,
    ToolCall,
    ToolCallCancelled,
    Transcript,
    TurnComplete,
    Usage,
    VoiceActivity,
    WaitingForInput,
)
from app.agent.gemini.config import live_config, make_client
from app.agent.gemini.wire import INPUT_MIME, ErrorReport, audio_message, error_report, model_audio
from app.errors import AgentSessionError
from app.json_objects import NotAnObject, json_object
from app.settings import Settings
from app.tools import Tool

log = logging.getLogger(__name__)

# WebSocket close codes that mean the request itself is wrong (bad key, bad setup):
# 1007 invalid payload, 1008 policy violation. Retrying them cannot help.
CLIENT_FAULT_CLOSE_CODES = frozenset({1007, 1008})

SDK_VERSION = genai.__version__

# The top-level keys of a server message the SDK reads: its LiveServerMessage's fields,
# as they are spelled on the wire. Any other key is dropped by the SDK's conversion.
SERVER_KEYS = frozenset(
    field.alias or name for name, field in types.LiveServerMessage.model_fields.items()
)


def _retryable(code: int | None) -> bool:
    return code not in CLIENT_FAULT_CLOSE_CODES and not (code is not None and 400 <= code < 500)


def _parse_seconds(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return float(value.removesuffix("s"))
    except ValueError:
        return None


def _text(value: object) -> str:
    """An enum field as its wire text (the SDK keeps a value it does not know as a str);
    ``""`` for none, and for the enums' ``…_UNSPECIFIED``."""
    text = "" if value is None else str(getattr(value, "value", value))
    return "" if text.endswith("UNSPECIFIED") else text


def _voice_activity(activity: types.VoiceActivity) -> VoiceActivity | None:
    kind = _text(activity.voice_activity_type)
    if kind not in ("ACTIVITY_START", "ACTIVITY_END"):
        return None  # unspecified, or a kind newer than this code: nothing to act on
    return VoiceActivity(kind == "ACTIVITY_START", _parse_seconds(activity.audio_offset))


def translate(message: types.LiveServerMessage) -> Iterator[AgentEvent]:
    """SDK message → the project's events, in the order the bridge must act on them."""
    activity = _voice_activity(message.voice_activity) if message.voice_activity else None
    if activity is not None:
        yield activity  # before `interrupted` in the same message: barge-in acts on either
    content = message.server_content
    if content is not None:
        if content.interrupted:
            yield Interrupted()
        if content.input_transcription and content.input_transcription.text:
            yield Transcript("caller", content.input_transcription.text)
        if content.model_turn and content.model_turn.parts:
            for part in content.model_turn.parts:
                blob = part.inline_data
                if blob and blob.data and (blob.mime_type or "").startswith("audio/pcm"):
                    yield AgentAudio(blob.data)
        if content.output_transcription and content.output_transcription.text:
            yield Transcript("agent", content.output_transcription.text)
        if content.generation_complete:
            yield GenerationComplete()
        status = _text(content.interaction_status)
        if content.turn_complete:
            yield TurnComplete(
                _text(content.turn_complete_reason),
                bool(content.waiting_for_input),
                status,
            )
        else:
            if content.waiting_for_input:
                yield WaitingForInput()
            if status:
                yield InteractionStatus(status == IN_PROGRESS)
    if message.session_resumption_update and message.session_resumption_update.new_handle:
        update = message.session_resumption_update
        yield ResumptionHandle(update.new_handle or "", bool(update.resumable))
    if message.tool_call and message.tool_call.function_calls:
        for call in message.tool_call.function_calls:
            yield ToolCall(call.id or "", call.name or "", dict(call.args or {}))
    if message.tool_call_cancellation and message.tool_call_cancellation.ids:
        yield ToolCallCancelled(tuple(message.tool_call_cancellation.ids))
    if message.go_away is not None:
        yield GoAway(_parse_seconds(message.go_away.time_left))
    if message.usage_metadata and message.usage_metadata.total_token_count:
        yield Usage(message.usage_metadata.total_token_count)


def _session_error(error: BaseException) -> AgentSessionError:
    if isinstance(error, errors.APIError):
        code = error.code if isinstance(error.code, int) else None
        detail = error.message or error.details or error.status
        return AgentSessionError(
            f"Gemini closed the session (code {code}): {detail}",
            code=code,
            retryable=_retryable(code),
        )
    if isinstance(error, websockets.InvalidStatus):
        status = error.response.status_code
        return AgentSessionError(
            f"Gemini refused the connection with HTTP {status}",
            code=status,
            retryable=not 400 <= status < 500,
        )
    if isinstance(error, TimeoutError):
        return AgentSessionError("timed out connecting to Gemini", retryable=True)
    if isinstance(error, google.auth.exceptions.GoogleAuthError):
        transient = isinstance(error, google.auth.exceptions.TransportError) or bool(
            getattr(error, "retryable", False)
        )
        return AgentSessionError(f"Google credentials failed: {error}", retryable=transient)
    return AgentSessionError(f"{type(error).__name__}: {error}", retryable=True)


def _reported(report: ErrorReport) -> AgentSessionError:
    status = f" {report.status}" if report.status else ""
    return AgentSessionError(
        f"Gemini reported an error (code {report.code}{status}): {report.message or '-'}",
        code=report.code,
        retryable=_retryable(report.code),
    )


_SDK_FAILURES = (
    errors.APIError,
    google.auth.exceptions.GoogleAuthError,
    websockets.WebSocketException,
    OSError,
    TimeoutError,
    json.JSONDecodeError,  # the SDK's receive() meeting a frame that is not JSON
)


# The SDK's own conversion of a parsed server message into its types, used for every
# message but plain model audio (app/agent/gemini/wire.py). Without it (another SDK version)
# the SDK's public receive() is used for everything.
try:
    from google.genai import _live_converters

    _FROM_WIRE: tuple[Any, Any] | None = (
        _live_converters._LiveServerMessage_from_mldev,
        _live_converters._LiveServerMessage_from_vertex,
    )
except (ImportError, AttributeError):
    _FROM_WIRE = None
_NO_KWARGS = types.LiveServerMessage().model_dump()
_slow_path_reported = False


@dataclass
class GeminiSession:
    """One open live session, seen through the project's own types."""

    _session: genai.live.AsyncSession
    vertex: bool = False

    def __post_init__(self) -> None:
        global _slow_path_reported
        raw = getattr(self._session, "_ws", None)
        usable = raw is not None and hasattr(raw, "send") and hasattr(raw, "recv")
        self._raw = raw if usable else None
        if not self.fast_path and not _slow_path_reported:
            _slow_path_reported = True
            log.warning(
                "google-genai %s has no AsyncSession._ws or _live_converters: every message"
                " goes through the SDK's public methods, at several times the CPU, and a"
                " message it does not know ends the session (tests/e2e/test_wire_conformance.py"
                " fails on this SDK)",
                SDK_VERSION,
            )

    @property
    def fast_path(self) -> bool:
        """Audio is written to and messages are read from the SDK's own socket."""
        return self._raw is not None and _FROM_WIRE is not None

    async def send_audio(self, pcm16k: bytes) -> None:
        """One caller frame. This is the hot path (50 messages a second per call), so
        the message is built here, exactly as ``send_realtime_input(audio=...)`` builds
        it, and written to the SDK's own socket: the SDK's pydantic round trip per
        frame cost more CPU than the audio conversion (bench/load.py, docs/load.md).
        Without that socket (another SDK version) the public method is used."""
        try:
            if self._raw is not None:
                await self._raw.send(audio_message(pcm16k))
            else:
                await self._session.send_realtime_input(
                    audio=types.Blob(data=pcm16k, mime_type=INPUT_MIME)
                )
        except _SDK_FAILURES as error:
            raise _session_error(error) from error

    async def send_text(self, text: str) -> None:
        try:
            await self._session.send_realtime_input(text=text)
        except _SDK_FAILURES as error:
            raise _session_error(error) from error

    async def send_history(self, history: Sequence[HistoryTurn]) -> None:
        """The conversation so far, as client content ending with a complete turn: what
        a session opened with ``history_config.initial_history_in_client_content`` waits
        for before it takes realtime input (it answers nothing by itself)."""
        turns: list[types.Content | types.ContentDict] = [
            types.Content(
                role="user" if turn.speaker == "caller" else "model",
                parts=[types.Part(text=turn.text)],
            )
            for turn in history
        ]
        try:
            await self._session.send_client_content(turns=turns, turn_complete=True)
        except _SDK_FAILURES as error:
            raise _session_error(error) from error

    async def close(self) -> None:
        """Close the socket now (a session given up for a new one); receiving then ends
        as any close does, with :class:`AgentSessionError`."""
        with contextlib.suppress(*_SDK_FAILURES):
            await self._session.close()

    async def send_tool_response(
        self, call_id: str, name: str, response: dict[str, Any], scheduling: str | None
    ) -> None:
        """The answer to one call; ``call_id`` ``""`` (the model gave none, as older Vertex
        AI models do) sends it with the name alone. The SDK refuses that on the Developer
        API, whose calls always carry an id."""
        answer = types.FunctionResponse(
            id=call_id or None,
            name=name,
            response=response,
            scheduling=types.FunctionResponseScheduling(scheduling) if scheduling else None,
        )
        try:
            await self._session.send_tool_response(function_responses=[answer])
        except ValueError as refused:  # the SDK's own check (an answer with no id)
            raise AgentSessionError(f"the SDK refused the answer: {refused}") from None
        except _SDK_FAILURES as error:
            raise _session_error(error) from error

    async def events(self) -> AsyncGenerator[AgentEvent, None]:
        """Every event of the session; ends only by raising :class:`AgentSessionError`.

        Like sending, receiving reads the SDK's socket itself: plain model audio (most
        messages) is decoded here, and everything else goes through the SDK's own
        conversion, so it is seen exactly as ``receive()`` would give it; what the SDK
        cannot read is skipped (:func:`read_with_sdk`)."""
        try:
            if not self.fast_path:
                while True:  # receive() returns after each turn; a call has many
                    async for message in self._session.receive():
                        for event in translate(message):
                            yield event
            while True:
                for event in read_message(await self._receive_raw(), vertex=self.vertex):
                    yield event
        except AgentSessionError:
            raise
        except _SDK_FAILURES as error:
            raise _session_error(error) from error
        except Exception as error:  # the SDK's own bugs (3.6.1 raises TypeError on new kinds)
            raise AgentSessionError(
                f"google-genai {SDK_VERSION} failed reading the session:"
                f" {type(error).__name__}: {error}",
                retryable=True,
            ) from error

    async def _receive_raw(self) -> dict[str, Any]:
        """The next message, parsed; a closed socket raises the SDK's APIError for its
        close code, as ``receive()`` does."""
        assert self._raw is not None
        try:
            frame = await self._raw.recv(decode=False)
        except websockets.ConnectionClosed as closed:
            code, reason = (
                (closed.rcvd.code, closed.rcvd.reason)
                if closed.rcvd
                else (1006, "abnormal closure")
            )
            errors.APIError.raise_error(code, reason, None)
            raise  # raise_error always raises; this keeps the type checker sure of it
        if not frame:
            return {}
        try:
            return json_object(frame)
        except NotAnObject as error:
            raise BadFrame(f"Gemini sent a frame {error.reason}: {frame[:200]!r}") from None


class BadFrame(AgentSessionError):
    """The service sent a frame that cannot be a message: the connection is not sound."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, retryable=True)


def from_wire(message: dict[str, Any], *, vertex: bool) -> types.LiveServerMessage | None:
    """A parsed server message as the SDK's ``receive()`` would give it, or None when the
    SDK finds nothing in it that it knows (where ``receive()`` raises). Changes
    ``message`` (the SDK's conversion drops what it does not know)."""
    assert _FROM_WIRE is not None
    converted = _FROM_WIRE[1 if vertex else 0](message)
    if not converted and message:
        return None
    return types.LiveServerMessage._from_response(response=converted, kwargs=_NO_KWARGS)


def read_message(message: dict[str, Any], *, vertex: bool) -> Iterator[AgentEvent]:
    """The events of one parsed server message, as a session reads it: plain model
    audio here (app/agent/gemini/wire.py), anything else through the SDK. Changes ``message``."""
    audio = model_audio(message)
    if audio is None:
        yield from read_with_sdk(message, vertex=vertex)
        return
    for pcm in audio:
        yield AgentAudio(pcm)


def read_with_sdk(message: dict[str, Any], *, vertex: bool) -> Iterator[AgentEvent]:
    """The events of one parsed server message, read by the SDK's own conversion.

    Top-level keys the SDK does not know give one :class:`Ignored` event for them, and
    the rest of the message is read; a message the SDK cannot read at all gives one
    :class:`Ignored` for its keys. Neither ends the session. An error report raises
    :class:`AgentSessionError`. Changes ``message``."""
    report = error_report(message)
    if report is not None:
        raise _reported(report)
    known = tuple(key for key in message if key in SERVER_KEYS)
    unknown = tuple(key for key in message if key not in SERVER_KEYS)
    if unknown:
        yield Ignored(unknown, f"google-genai {SDK_VERSION} does not know it")
    if not known:
        return
    try:
        converted = from_wire(message, vertex=vertex)
    # The SDK's reading of content it does not expect raises pydantic's ValidationError,
    # TypeError, and who knows what next; one unreadable message is skipped, not fatal.
    except Exception as error:
        yield Ignored(
            known,
            f"google-genai {SDK_VERSION} could not read it ({type(error).__name__})",
            " ".join(str(error).split())[:300],
        )
        return
    if converted is None:
        yield Ignored(known, f"google-genai {SDK_VERSION} found nothing in it to read")
        return
    yield from translate(converted)


class GeminiConnector:
    """Opens live sessions; one per process, shared by all calls."""

    def __init__(self, settings: Settings, tools: Sequence[Tool] = ()) -> None:
        """Builds the client; raises ConfigError if Vertex AI credentials cannot be loaded."""
        self._settings = settings
        self._tools = tuple(tools)
        self._client = make_client(settings)

    @contextlib.asynccontextmanager
    async def connect(
        self, resume_handle: str | None = None, history: Sequence[HistoryTurn] = ()
    ) -> AsyncIterator[GeminiSession]:
        """Open a session (bounded by the connect timeout), seeded with ``history`` when
        given (a fresh session carrying on a conversation); close it on exit."""
        config = live_config(
            self._settings, resume_handle=resume_handle, tools=self._tools, seeded=bool(history)
        )
        manager = self._client.aio.live.connect(model=self._settings.model, config=config)
        try:
            async with asyncio.timeout(self._settings.gemini_connect_timeout_s):
                session = await manager.__aenter__()
        except _SDK_FAILURES as error:
            raise _session_error(error) from error
        try:
            opened = GeminiSession(session, vertex=self._settings.vertex)
            if history:
                await opened.send_history(history)
            yield opened
        finally:
            with contextlib.suppress(*_SDK_FAILURES):
                await manager.__aexit__(None, None, None)
