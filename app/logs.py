"""Log set-up for the server process: one format, secrets never written.

Every handler gets a :class:`RedactingFilter` that replaces configured secrets
(API key, auth token) and anything shaped like a stream token with ``[redacted]``.
Third-party protocol tracers (frame dumps, request headers) stay at INFO even with
LOG_LEVEL=debug, because their debug lines carry headers and payloads.
"""

from __future__ import annotations

import json
import logging
import re

from app.settings import Settings

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
STREAM_TOKEN_PATTERN = re.compile(r"\b\d{9,11}\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]{43}\b")
QUIET_LOGGERS = ("websockets", "uvicorn.error", "httpx", "httpcore", "google_genai", "hpack")
REDACTED = "[redacted]"


class RedactingFilter(logging.Filter):
    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self._secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return STREAM_TOKEN_PATTERN.sub(REDACTED, text)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = self.redact(message)
        if record.exc_info and record.exc_text is None:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if clean != message:
            record.msg, record.args = clean, None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line; a call's lines carry ``call_sid`` and ``stream_sid``."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("call_sid", "stream_sid"):
            value = getattr(record, key, None)
            if value and value != "-":
                entry[key] = value
        if record.exc_info:
            entry["exception"] = record.exc_text or self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(settings: Settings) -> None:
    logging.basicConfig(level=settings.log_level.upper(), format=LOG_FORMAT)
    redactor = RedactingFilter(settings.secret_values())
    for handler in logging.getLogger().handlers:
        handler.addFilter(redactor)
        if settings.log_format == "json":
            handler.setFormatter(JsonFormatter())
    if settings.log_level == "debug":
        for name in QUIET_LOGGERS:
            logging.getLogger(name).setLevel(logging.INFO)
