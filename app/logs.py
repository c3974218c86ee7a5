# edge: configures the process's logging from the settings
"""Log set-up for the server process: one format, secrets never written, one line
per record.

Every handler gets a :class:`RedactingFilter` that replaces configured secrets (API
key, auth token, operator token), in plain and in the encoded forms they take in
addresses, forms and headers (percent-encoded, form-encoded, JSON-escaped, the
REST API's Basic credentials), and anything shaped like a stream token, with
``[redacted]``; and that escapes control characters, so a value from a request
cannot forge a log line (a newline) or reach a terminal (ESC). Third-party protocol
tracers (frame dumps, request headers) stay at INFO even with LOG_LEVEL=debug,
because their debug lines carry headers and payloads.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import time
from urllib.parse import quote, quote_plus

from app.settings import Settings
from app.text import printable

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
STREAM_TOKEN_PATTERN = re.compile(r"\b\d{9,11}\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]{43}\b")
QUIET_LOGGERS = ("websockets", "uvicorn.error", "httpx", "httpcore", "google_genai", "hpack")
# The twilio library logs every REST request's method, URL and headers at INFO.
NOISY_LOGGERS = ("twilio.http_client", "twilio.async_http_client")
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")
REDACTED = "[redacted]"


class Sparse:
    """Lets a log line through once per key per ``every_s`` (a flood of the same refusal
    is one line a minute, not one per request); bounded memory."""

    def __init__(self, every_s: float = 60.0, max_keys: int = 10_000) -> None:
        self.every_s = every_s
        self.max_keys = max_keys
        self._last: dict[str, float] = {}

    def due(self, key: str) -> bool:
        now = time.monotonic()
        if now - self._last.get(key, -self.every_s) < self.every_s:
            return False
        if len(self._last) >= self.max_keys:
            self._last.clear()
        self._last[key] = now
        return True


def encoded_forms(secret: str) -> set[str]:
    """The secret as it appears in an address, a form, a JSON string."""
    return {secret, quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1]}


class RedactingFilter(logging.Filter):
    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        forms = {form for s in secrets if len(s) >= 4 for form in encoded_forms(s)}
        self._secrets = sorted(forms, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return STREAM_TOKEN_PATTERN.sub(REDACTED, text)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = printable(self.redact(message))
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


def secrets_of(settings: Settings) -> list[str]:
    values = settings.secret_values()
    token = settings.twilio_auth_token
    if settings.twilio_account_sid and token is not None:  # the REST API's Basic credentials
        basic = f"{settings.twilio_account_sid}:{token.get_secret_value()}".encode()
        values.append(base64.b64encode(basic).decode("ascii"))
    return values


def configure_logging(settings: Settings) -> None:
    logging.basicConfig(level=settings.log_level.upper(), format=LOG_FORMAT)
    redactor = RedactingFilter(secrets_of(settings))
    for handler in logging.getLogger().handlers:
        handler.addFilter(redactor)
        if settings.log_format == "json":
            handler.setFormatter(JsonFormatter())
    # Never below INFO, whatever set them before (`uvicorn --log-level debug` does): their
    # debug lines carry handshake headers, and a child's records reach the root's handlers
    # whatever the root's own level.
    quiet = max(logging.INFO, logging.getLevelName(settings.log_level.upper()))
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(quiet)
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    # `uvicorn app.main:app` gives its own loggers handlers of their own before the app is
    # imported: those lines would bypass the redaction and the JSON format.
    for name in UVICORN_LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
