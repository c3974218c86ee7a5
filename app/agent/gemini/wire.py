"""Gemini Live messages on the hot path, read and written without the SDK (pure).

Caller audio goes out 50 times a second per call and agent audio comes back about 25
times a second. Passing each message through the SDK's pydantic models costs about
100 µs of CPU, far more than converting the audio. Only the two plain-audio shapes
are handled here. Any other message goes through the SDK (``app/agent/gemini/session.py``), as
does any message this module does not recognise exactly. The service's error envelope
is recognised here too, so the adapter can end the session with its code.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

INPUT_MIME = "audio/pcm;rate=16000"
_AUDIO_PREFIX = '{"realtime_input": {"audio": {"data": "'
_AUDIO_SUFFIX = f'", "mime_type": "{INPUT_MIME}"}}}}}}'


def audio_message(pcm16k: bytes) -> str:
    """One caller frame, exactly as the SDK's ``send_realtime_input(audio=...)`` writes it
    (URL-safe base64, as the SDK encodes bytes; the service accepts either alphabet)."""
    return _AUDIO_PREFIX + base64.urlsafe_b64encode(pcm16k).decode("ascii") + _AUDIO_SUFFIX


def model_audio(message: dict[str, Any]) -> list[bytes] | None:
    """The PCM of a message that holds model audio and nothing else, or None for any
    other message (the SDK reads those)."""
    if len(message) != 1:
        return None
    content = message.get("serverContent")
    if not isinstance(content, dict) or len(content) != 1:
        return None
    turn = content.get("modelTurn")
    if not isinstance(turn, dict) or not set(turn) <= {"parts", "role"}:
        return None
    parts = turn.get("parts")
    if not isinstance(parts, list) or not parts:
        return None
    audio = []
    for part in parts:
        blob = part.get("inlineData") if isinstance(part, dict) and len(part) == 1 else None
        if not isinstance(blob, dict) or not set(blob) <= {"mimeType", "data"}:
            return None
        data, mime = blob.get("data"), blob.get("mimeType")
        if not isinstance(data, str) or not isinstance(mime, str):
            return None
        if not mime.startswith("audio/pcm") or not data or "-" in data or "_" in data:
            return None  # not audio, or empty, or URL-safe base64 (left to the SDK)
        try:
            audio.append(base64.b64decode(data))
        except binascii.Error:
            return None  # left to the SDK, which says what is wrong with it
    return audio


@dataclass(frozen=True)
class ErrorReport:
    """The service's report that the session failed, in Google's error envelope."""

    code: int | None
    status: str
    message: str


def error_report(message: dict[str, Any]) -> ErrorReport | None:
    """An error report, or None for any other message.

    The envelope is ``{"error": {"code", "message", "status"}}`` (google.rpc.Status as
    Google's JSON APIs write it, ``code`` an HTTP status). go-genai ends ``Receive`` on
    it; google-genai means to raise it as an ``APIError`` but looks for the code at the
    top level, and raises ``TypeError`` instead (3.6.1). The service otherwise reports
    a failure by closing the socket with a code; an envelope is read the same way: the
    session is over, and its code says whether another session may help."""
    body = message.get("error")
    if not isinstance(body, dict):
        return None
    code = body.get("code")
    return ErrorReport(
        code=code if isinstance(code, int) and not isinstance(code, bool) else None,
        status=str(body.get("status") or ""),
        message=str(body.get("message") or ""),
    )
