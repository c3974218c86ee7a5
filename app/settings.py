"""Configuration: read once at startup into one typed, validated object.

Nothing else in the project reads the environment. A wrong or missing value stops
the server with :class:`ConfigError`, whose message names the variable and the fix.
"""

from __future__ import annotations

import ipaddress
import json
import re
import ssl
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import (
    AliasChoices,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.models import (
    DEVELOPER_DEFAULT_MODEL,
    VERTEX_DEFAULT_MODEL,
    backend_model_problems,
    option_problems,
)
from app.sids import E164, is_account_sid

DEFAULT_INSTRUCTION = (
    "You are a friendly, concise phone assistant. You are speaking on a telephone call, "
    "so keep answers short and conversational, and never use lists or formatting."
)
DEFAULT_GREETING = (
    "The caller has just been connected. Greet them briefly and ask how you can help."
)
DEFAULT_GOODBYE = (
    "The call is ending now. Say a short, polite goodbye to the caller and nothing else."
)
DEFAULT_IDLE_PROMPT = "The caller has been silent for a while. Briefly ask if they are still there."
DEFAULT_OUTBOUND_GREETING = (
    "You placed this call and the person has just answered. Greet them, say who you are and"
    " why you are calling, in one or two short sentences."
)
DEFAULT_BUSY = "Sorry, all our lines are busy right now. Please call again in a few minutes."
MIN_TOKEN_LENGTH = 32
DEFAULT_APOLOGY = "Sorry, something went wrong on our side. Please try calling again later."

Sensitivity = Literal["HIGH", "LOW"]
# The server's own routes: a PUBLIC_URL ending in one of them is the webhook's address,
# not the server's (every signature would then be computed over the wrong URL).
ROUTE_PATHS = ("/incoming-call", "/media-stream", "/call-ended", "/stream-status", "/call-status")
API_VERSION = re.compile(r"v[0-9]+((alpha|beta)[0-9]*)?")
LANGUAGE = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*")
_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
HOSTNAME = re.compile(rf"(?=.{{1,253}}\Z){_LABEL}(\.{_LABEL})*")


class ConfigError(Exception):
    """Settings that cannot run; the message says which variable and what to do."""


class Settings(BaseSettings):
    """Every setting, with its environment variable (upper-case name) in ``.env.example``."""

    model_config = SettingsConfigDict(
        env_file=".env", extra="ignore", populate_by_name=True, frozen=True
    )

    # Gemini Live (or AGENT=echo: repeat the caller, no Gemini needed)
    agent: Literal["gemini", "echo"] = "gemini"
    gemini_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("GEMINI_API_KEY", "GOOGLE_API_KEY")
    )
    gemini_model: str = ""  # empty: the backend's default (see `model`)
    gemini_api_version: str = ""  # empty: v1beta (Developer API) or v1beta1 (Vertex AI)
    # Vertex AI (instead of the Developer API)
    google_genai_use_vertexai: bool = False
    google_cloud_project: str | None = None
    google_cloud_location: str = "us-central1"
    google_application_credentials: Path | None = None
    gemini_base_url: str | None = None
    ssl_cert_file: Path | None = None
    gemini_voice: str | None = None
    gemini_language: str | None = None
    system_instruction: str = DEFAULT_INSTRUCTION
    system_instruction_file: Path | None = None
    greeting: str = DEFAULT_GREETING
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    top_p: float | None = Field(default=None, ge=0.0, le=1.0)
    top_k: int | None = Field(default=None, ge=1)
    max_output_tokens: int | None = Field(default=None, ge=1)
    vad_start_sensitivity: Sensitivity | None = None
    vad_end_sensitivity: Sensitivity | None = None
    vad_prefix_padding_ms: int | None = Field(default=None, ge=0)
    vad_silence_duration_ms: int | None = Field(default=None, ge=0)
    affective_dialog: bool | None = None
    proactive_audio: bool | None = None
    thinking_budget: int | None = Field(default=None, ge=-1)
    gemini_connect_timeout_s: float = Field(default=10.0, gt=0)
    reconnect_max_attempts: int = Field(default=6, ge=0)
    reconnect_max_seconds: float = Field(default=30.0, ge=0)
    caller_buffer_seconds: float = Field(default=10.0, gt=0)

    # Tools and telephony features
    tool_modules: str = ""
    tool_timeout_seconds: float = Field(default=10.0, gt=0)
    enable_end_call: bool = True
    transfer_targets: str = ""
    forward_dtmf: bool = True
    fast_barge_in: bool = False
    outbound_greeting: str = DEFAULT_OUTBOUND_GREETING
    twilio_account_sid: str | None = None
    twilio_from_number: str | None = None
    twilio_api_base_url: str | None = None
    operator_token: SecretStr | None = None
    enable_softphone: bool = False
    max_softphone_calls: int = Field(default=3, ge=1)

    # Call limits
    max_call_seconds: float = Field(default=3600.0, ge=0)
    idle_timeout_seconds: float = Field(default=0.0, ge=0)
    goodbye_instruction: str = DEFAULT_GOODBYE
    idle_instruction: str = DEFAULT_IDLE_PROMPT

    # Twilio and the public side
    twilio_auth_token: SecretStr | None = None
    public_url: str | None = None
    allow_unsigned_requests: bool = False
    stream_token_ttl_seconds: float = Field(default=60.0, gt=0)
    apology_message: str = DEFAULT_APOLOGY
    busy_message: str = DEFAULT_BUSY

    # Limits
    max_concurrent_calls: int = Field(default=100, ge=1)
    shutdown_drain_seconds: float = Field(default=30.0, ge=0)
    max_malformed_messages: int = Field(default=100, ge=0)
    max_messages_per_second: float = Field(default=250.0, gt=0)

    # Serving
    host: str | None = None  # unset: 0.0.0.0, or 127.0.0.1 in development (no signatures)
    trusted_proxies: str = "127.0.0.1,::1"
    header_timeout_seconds: float = Field(default=10.0, gt=0)
    port: int = Field(default=8000, ge=0, le=65535)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["text", "json"] = "text"
    call_records_path: str = "calls.sqlite3"
    recordings_dir: str = ""

    _instruction: str = PrivateAttr(default="")  # SYSTEM_INSTRUCTION_FILE's text

    @field_validator("*", mode="before")
    @classmethod
    def _blank_means_unset(cls, value: object, info: ValidationInfo) -> object:
        """``TEMPERATURE=`` in .env means "not set" for every optional setting."""
        field = cls.model_fields.get(info.field_name or "")
        if value == "" and field is not None and field.default is None:
            return None
        return value

    @model_validator(mode="after")
    def _check(self) -> Settings:
        problems = option_problems(
            self.model,
            thinking_budget=self.thinking_budget,
            affective_dialog=self.affective_dialog,
            proactive_audio=self.proactive_audio,
        )
        problems.extend(backend_problems(self))
        if self.twilio_auth_token is None and not self.allow_unsigned_requests:
            problems.append(
                "TWILIO_AUTH_TOKEN is not set: set it to your Twilio account's auth token (and"
                " PUBLIC_URL) so requests are checked, or, for local development only, set"
                " ALLOW_UNSIGNED_REQUESTS=true."
            )
        if self.twilio_auth_token is not None and not self.public_url:
            problems.append(
                "PUBLIC_URL is not set but TWILIO_AUTH_TOKEN is: set PUBLIC_URL to the https"
                " address Twilio calls (e.g. https://bot.example.com) so signatures can be"
                " checked."
            )
        problems.extend(public_url_problems(self.public_url))
        for name, url in (
            ("GEMINI_BASE_URL", self.gemini_base_url),
            ("TWILIO_API_BASE_URL", self.twilio_api_base_url),
        ):
            problems.extend(base_url_problems(name, url))
        if self.system_instruction_file is not None:
            text, problem = read_instruction(self.system_instruction_file)
            if problem:
                problems.append(problem)
            self._instruction = text
        if self.ssl_cert_file is not None:
            problems.extend(ca_file_problems(self.ssl_cert_file))
        if self.gemini_api_version and not API_VERSION.fullmatch(self.gemini_api_version):
            problems.append(
                f"GEMINI_API_VERSION={self.gemini_api_version!r} is not an API version like"
                " v1beta (Developer API) or v1beta1 (Vertex AI); unset it for the default."
            )
        if self.gemini_language and not LANGUAGE.fullmatch(self.gemini_language):
            problems.append(
                f"GEMINI_LANGUAGE={self.gemini_language!r} is not a language code like en-US."
            )
        problems.extend(self._telephony_problems())
        if self.host is not None:
            problems.extend(host_problems(self.host))
        problems.extend(proxy_problems(self.trusted_proxies))
        token = self.operator_token.get_secret_value() if self.operator_token else ""
        if self.operator_token is not None and len(token) < MIN_TOKEN_LENGTH:
            problems.append(
                f"OPERATOR_TOKEN is shorter than {MIN_TOKEN_LENGTH} characters: use a long"
                " random one (python -c 'import secrets; print(secrets.token_urlsafe(32))')."
            )
        if problems:
            raise ValueError(" ".join(problems))
        return self

    def _telephony_problems(self) -> list[str]:
        problems = []
        if self.twilio_account_sid and not is_account_sid(self.twilio_account_sid):
            problems.append(
                "TWILIO_ACCOUNT_SID must be your account SID (AC followed by 32 hex digits)."
            )
        names: set[str] = set()
        for entry in filter(None, (e.strip() for e in self.transfer_targets.split(","))):
            name, _, number = (part.strip() for part in entry.partition("="))
            if not re.fullmatch(r"[A-Za-z][\w-]*", name) or not E164.fullmatch(number):
                problems.append(
                    f"TRANSFER_TARGETS entry {entry!r} must look like name=+15551234567."
                )
            elif name in names:
                problems.append(
                    f"TRANSFER_TARGETS names {name!r} twice: give each target its own name."
                )
            names.add(name)
        if self.enable_softphone and self.operator_token is None and self.validates_signatures:
            problems.append(
                "ENABLE_SOFTPHONE=true needs OPERATOR_TOKEN: the softphone page is opened with"
                " that token (it is open without one only in development, with"
                " ALLOW_UNSIGNED_REQUESTS=true and no TWILIO_AUTH_TOKEN)."
            )
        if self.twilio_account_sid and self.twilio_auth_token is None:
            problems.append(
                "TWILIO_ACCOUNT_SID is set without TWILIO_AUTH_TOKEN: Twilio's REST API needs"
                " both; set the auth token, or unset the account SID."
            )
        if self.twilio_from_number and not E164.fullmatch(self.twilio_from_number):
            problems.append("TWILIO_FROM_NUMBER must be in E.164 form, like +15551234567.")
        return problems

    @property
    def tool_module_paths(self) -> list[str]:
        return [m.strip() for m in self.tool_modules.split(",") if m.strip()]

    @property
    def transfer_map(self) -> dict[str, str]:
        pairs = (e.partition("=") for e in self.transfer_targets.split(",") if "=" in e)
        return {name.strip(): number.strip() for name, _, number in pairs}

    @property
    def vertex(self) -> bool:
        return self.google_genai_use_vertexai

    @property
    def vertex_express(self) -> bool:
        """Vertex AI with an API key instead of a project and credentials."""
        return self.vertex and self.gemini_api_key is not None and not self.google_cloud_project

    @property
    def model(self) -> str:
        return self.gemini_model or (
            VERTEX_DEFAULT_MODEL if self.vertex else DEVELOPER_DEFAULT_MODEL
        )

    @property
    def api_version(self) -> str:
        return self.gemini_api_version or ("v1beta1" if self.vertex else "v1beta")

    @property
    def instruction_text(self) -> str:
        """The instructions, from SYSTEM_INSTRUCTION_FILE as read (once) at startup."""
        if self.system_instruction_file is not None:
            return self._instruction
        return self.system_instruction

    @property
    def listen_host(self) -> str:
        """HOST, or by default every interface; in development (no signatures) only this
        machine, so an open development server is not reachable from the network."""
        if self.host is not None:
            return self.host
        return "0.0.0.0" if self.validates_signatures else "127.0.0.1"

    @property
    def proxy_addresses(self) -> list[str]:
        return [p.strip() for p in self.trusted_proxies.split(",") if p.strip()]

    @property
    def public_base(self) -> str | None:
        return self.public_url.rstrip("/") if self.public_url else None

    @property
    def validates_signatures(self) -> bool:
        return self.twilio_auth_token is not None

    def secret_values(self) -> list[str]:
        """Every configured secret, for log redaction."""
        values = [self.gemini_api_key, self.twilio_auth_token, self.operator_token]
        return [v.get_secret_value() for v in values if v is not None and v.get_secret_value()]


def public_url_problems(url: str | None) -> list[str]:
    """PUBLIC_URL is the https base address Twilio calls (it signs exactly that)."""
    if not url:
        return []
    example = "e.g. https://bot.example.com"
    parts = urlsplit(url)
    if parts.scheme != "https":
        return [
            f"PUBLIC_URL={url!r} must start with https:// ({example}): Twilio calls only"
            " https webhooks and streams only to wss:// addresses."
        ]
    try:
        parts.port  # noqa: B018 - raises for a port that is not a number
    except ValueError:
        return [f"PUBLIC_URL={url!r} has a port that is not a number ({example})."]
    if not parts.hostname:
        return [f"PUBLIC_URL={url!r} names no host ({example})."]
    if parts.query or parts.fragment:
        return [f"PUBLIC_URL={url!r} must not carry a query string or fragment ({example})."]
    path = parts.path.rstrip("/")
    for route in ROUTE_PATHS:
        if path.endswith(route):
            base = url.rstrip("/").removesuffix(route)
            return [
                f"PUBLIC_URL={url!r} ends in {route}: set it to the server's base address"
                f" ({base}); the server adds {route} itself."
            ]
    return []


def base_url_problems(name: str, url: str | None) -> list[str]:
    if not url:
        return []
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return [f"{name}={url!r} must be an https:// address with a host, or unset."]
    return []


def host_problems(host: str) -> list[str]:
    """HOST is what the server listens on: an IP address or a host name."""
    try:
        ipaddress.ip_address(host.removeprefix("[").removesuffix("]"))
        return []
    except ValueError:
        pass
    if HOSTNAME.fullmatch(host):
        return []
    return [
        f"HOST={host!r} is not an IP address or host name: use 0.0.0.0 (every interface)"
        " or 127.0.0.1 (this machine only)."
    ]


def ca_file_problems(path: Path) -> list[str]:
    """SSL_CERT_FILE must hold CA certificates the TLS layer can load."""
    try:
        ssl.create_default_context(cafile=str(path))
    except (OSError, ssl.SSLError) as error:
        reason = getattr(error, "strerror", None) or getattr(error, "reason", None) or error
        return [
            f"SSL_CERT_FILE={path} cannot be loaded as PEM CA certificates ({reason}):"
            " fix the path or unset it."
        ]
    return []


def proxy_problems(value: str) -> list[str]:
    """TRUSTED_PROXIES: addresses or networks whose X-Forwarded-For/-Proto are believed."""
    for entry in (p.strip() for p in value.split(",")):
        if not entry or entry == "*":
            continue
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            return [
                f"TRUSTED_PROXIES entry {entry!r} is not an IP address or network (like"
                " 10.0.0.0/8); list your proxy's addresses, or * to trust every client."
            ]
    return []


def read_instruction(path: Path) -> tuple[str, str | None]:
    """SYSTEM_INSTRUCTION_FILE's text, read once; or a sentence saying why it cannot be."""
    where = f"SYSTEM_INSTRUCTION_FILE={path}"
    try:
        text = path.read_bytes().decode("utf-8").strip()
    except OSError as error:
        return "", f"{where} cannot be read ({error.strerror or error}): fix the path or unset it."
    except UnicodeDecodeError as error:
        return "", (
            f"{where} is not UTF-8 text (byte {error.object[error.start]:#04x} at position"
            f" {error.start}): save it as UTF-8."
        )
    if not text:
        return "", f"{where} is empty: write the bot's instructions in it, or unset it."
    return text, None


def backend_problems(settings: Settings) -> list[str]:
    """The Developer API needs a key; Vertex AI needs a project (or an express-mode key)
    and, when a credentials file is named, a readable one."""
    problems: list[str] = []
    key = settings.gemini_api_key
    has_key = key is not None and bool(key.get_secret_value().strip())
    if settings.agent == "echo":
        return problems  # the self-test needs no model
    if not settings.vertex:
        if not has_key:
            problems.append(
                "GEMINI_API_KEY is not set: create a key in Google AI Studio and set"
                " GEMINI_API_KEY (or GOOGLE_API_KEY) in the environment or in .env (or use"
                " Vertex AI with GOOGLE_GENAI_USE_VERTEXAI=true and GOOGLE_CLOUD_PROJECT),"
                " or set AGENT=echo to test the telephony side without Gemini."
            )
        return problems
    if not settings.google_cloud_project and not has_key:
        problems.append(
            "GOOGLE_CLOUD_PROJECT is not set: Vertex AI needs the Google Cloud project to"
            " bill (or GEMINI_API_KEY for Vertex AI express mode)."
        )
    path = settings.google_application_credentials
    if path is not None:
        problems.extend(_credentials_file_problems(path))
    problems.extend(backend_model_problems(settings.model, vertex=True))
    return problems


def _credentials_file_problems(path: Path) -> list[str]:
    where = f"GOOGLE_APPLICATION_CREDENTIALS={path}"
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        return [
            f"{where} cannot be read ({error.strerror}): fix the path or unset it to use"
            " application default credentials."
        ]
    except ValueError:
        return [f"{where} is not a JSON credentials file: download the service account key again."]
    kind = info.get("type") if isinstance(info, dict) else None
    if kind not in ("service_account", "authorized_user"):
        return [
            f"{where} is not a service account or user credentials file (its type is"
            f" {kind!r}); for other kinds, unset it and use application default credentials."
        ]
    return []


def _describe(error: ValidationError) -> str:
    sentences = []
    for item in error.errors():
        loc = ".".join(str(part) for part in item["loc"])
        message = item["msg"].removeprefix("Value error, ")
        if loc:
            shown = (
                "hidden"
                if any(w in loc for w in ("key", "token", "secret"))
                else repr(item.get("input"))
            )
            sentences.append(f"{loc.upper()}: {message} (got {shown}).")
        else:
            sentences.append(message)
    return " ".join(sentences)


def load_settings(**overrides: object) -> Settings:
    """Read the environment and ``.env``; raise :class:`ConfigError` with a clear sentence."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        raise ConfigError(_describe(error)) from None
