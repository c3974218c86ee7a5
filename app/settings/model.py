# edge: reads the environment and .env
"""Configuration: read once at startup into one typed, validated object.

Nothing else in the project reads the environment. A wrong or missing value stops
the server with :class:`ConfigError`, whose message names the variable and the fix.
"""

from __future__ import annotations

import os
import typing
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from dotenv import dotenv_values
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

from app.agent.gemini.capabilities import (
    DEVELOPER_DEFAULT_MODEL,
    VERTEX_DEFAULT_MODEL,
)
from app.agent.gemini.catalog import known_voice
from app.clients import TrustedProxies
from app.errors import ConfigError
from app.rotation import Rotating
from app.settings.checks import read_instruction, settings_problems, settings_warnings
from app.settings.names import dotenv_problems, environment_warnings

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
DEFAULT_APOLOGY = "Sorry, something went wrong on our side. Please try calling again later."
DEFAULT_DEAD_AIR_INSTRUCTION = (
    "The caller is hearing silence and waiting for you. Answer what they last said now,"
    " or finish your last reply if it was cut off; keep it short."
)

Sensitivity = Literal["HIGH", "LOW"]
ThinkingLevel = Literal["minimal", "low", "medium", "high"]
ENV_FILE = Path(".env")  # in the current directory, unless --env-file names another


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
    thinking_level: ThinkingLevel | None = None  # gemini-3.8-live-extended-thinking
    # Sent in the session's generationConfig (the Live API's reference lists them there).
    presence_penalty: float | None = Field(default=None, ge=-2.0, lt=2.0)
    frequency_penalty: float | None = Field(default=None, ge=-2.0, lt=2.0)
    candidate_count: int | None = Field(default=None, ge=1)  # a live session streams one
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
    redact_dtmf: bool = False
    fast_barge_in: bool = False
    outbound_greeting: str = DEFAULT_OUTBOUND_GREETING
    twilio_account_sid: str | None = None
    twilio_from_number: str | None = None
    twilio_api_base_url: str | None = None
    operator_token: SecretStr | None = None
    operator_token_previous: SecretStr | None = None
    enable_softphone: bool = False
    max_softphone_calls: int = Field(default=3, ge=1)

    # Dead air: recovering a silent session, and a sound while the agent works
    dead_air_seconds: float = Field(default=3.0, ge=0)  # 0: off
    dead_air_instruction: str = DEFAULT_DEAD_AIR_INSTRUCTION
    thinking_audio_after_ms: float = Field(default=800.0, ge=0)  # 0: off
    thinking_audio_file: Path | None = None  # WAV, any rate; empty: the built-in texture

    # Call limits
    max_call_seconds: float = Field(default=3600.0, ge=0)
    idle_timeout_seconds: float = Field(default=0.0, ge=0)
    goodbye_instruction: str = DEFAULT_GOODBYE
    idle_instruction: str = DEFAULT_IDLE_PROMPT

    # Twilio and the public side
    twilio_auth_token: SecretStr | None = None
    twilio_auth_token_previous: SecretStr | None = None
    previous_secrets_until: datetime | None = None  # the *_PREVIOUS values end then
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
    max_audio_rate_factor: float = Field(default=2.0, ge=0)

    # Serving
    host: str | None = None  # unset: 0.0.0.0, or 127.0.0.1 in development (no signatures)
    trusted_proxies: str = "127.0.0.1,::1"
    trusted_proxy_hops: int = Field(default=1, ge=1, le=10)  # with TRUSTED_PROXIES=*
    # One deadline for a request's line, headers and body (HEADER_TIMEOUT_SECONDS: its
    # old name, from when it covered the headers only).
    request_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        validation_alias=AliasChoices("REQUEST_TIMEOUT_SECONDS", "HEADER_TIMEOUT_SECONDS"),
    )
    max_pending_requests_per_client: int = Field(default=16, ge=1)
    port: int = Field(default=8000, ge=0, le=65535)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["text", "json"] = "text"
    call_records_path: str = "calls.sqlite3"
    recordings_dir: str = ""

    # Fleet mode (docs/scaling.md): several processes, on one host or many, behind one number
    workers: int = Field(
        default=1, ge=1, validation_alias=AliasChoices("WORKERS", "WEB_CONCURRENCY")
    )
    redis_url: SecretStr | None = None  # redis:// or rediss://, with its password
    redis_key_prefix: str = Field(default="phonebot", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    fleet_lease_seconds: float = Field(default=4.0, ge=1.0, le=10.0)
    database_url: SecretStr | None = None  # postgresql://; takes precedence over CALL_RECORDS_PATH
    prometheus_multiproc_dir: str | None = None  # set by the supervisor for its workers

    _instruction: str = PrivateAttr(default="")  # SYSTEM_INSTRUCTION_FILE's text
    _warnings: tuple[str, ...] = PrivateAttr(default=())  # for the log, or `check`
    _source: str = PrivateAttr(default="")  # where the settings were read

    @field_validator("*", mode="before")
    @classmethod
    def _read_as_written(cls, value: object, info: ValidationInfo) -> object:
        """``TEMPERATURE=`` in .env means "not set" for every optional setting; a choice
        (``LOG_LEVEL=DEBUG``, ``AGENT=Echo``) is taken in any case."""
        field = cls.model_fields.get(info.field_name or "")
        if field is None or not isinstance(value, str):
            return value
        if value == "" and field.default is None:
            return None
        choices = literal_choices(field.annotation)
        return next((c for c in choices if c.casefold() == value.strip().casefold()), value)

    @field_validator("gemini_voice")
    @classmethod
    def _voice_as_google_spells_it(cls, value: str | None) -> str | None:
        """``kore`` → ``Kore``: Google documents the voices capitalised, and only that
        spelling is certain to be accepted."""
        if not value:
            return value
        return known_voice(value) or value

    @model_validator(mode="after")
    def _check(self) -> Settings:
        problems = []
        if self.system_instruction_file is not None:  # read once, here
            self._instruction, problem = read_instruction(self.system_instruction_file)
            problems.extend([problem] if problem else [])
        problems.extend(settings_problems(self))
        if problems:
            raise ValueError(" ".join(problems))
        self._warnings = tuple(settings_warnings(self))
        return self

    @property
    def warnings(self) -> tuple[str, ...]:
        """What may well be a mistake but need not be (a model this version does not
        know, a misspelled-looking environment variable): logged at startup."""
        return self._warnings

    @property
    def source(self) -> str:
        """Where the settings were read: the environment, and which .env file."""
        return self._source or "the environment and the arguments given"

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
    def proxies(self) -> TrustedProxies:
        return TrustedProxies.parse(self.trusted_proxies, self.trusted_proxy_hops)

    @property
    def public_base(self) -> str | None:
        return self.public_url.rstrip("/") if self.public_url else None

    @property
    def validates_signatures(self) -> bool:
        return self.twilio_auth_token is not None

    def secret_values(self) -> list[str]:
        """Every configured secret, for log redaction."""
        values = [
            self.gemini_api_key,
            self.twilio_auth_token,
            self.twilio_auth_token_previous,
            self.operator_token,
            self.operator_token_previous,
            self.redis_url,  # may carry a password
            self.database_url,
        ]
        return [v.get_secret_value() for v in values if v is not None and v.get_secret_value()]

    def _rotating(self, current: SecretStr | None, previous: SecretStr | None) -> Rotating | None:
        if current is None:
            return None
        until = self.previous_secrets_until
        return Rotating(
            current.get_secret_value(),
            previous.get_secret_value() if previous is not None else None,
            until.timestamp() if until is not None else 0.0,
        )

    @property
    def auth_token(self) -> Rotating | None:
        """TWILIO_AUTH_TOKEN, and TWILIO_AUTH_TOKEN_PREVIOUS until PREVIOUS_SECRETS_UNTIL."""
        return self._rotating(self.twilio_auth_token, self.twilio_auth_token_previous)

    @property
    def operator_secret(self) -> Rotating | None:
        """OPERATOR_TOKEN, and OPERATOR_TOKEN_PREVIOUS until PREVIOUS_SECRETS_UNTIL."""
        return self._rotating(self.operator_token, self.operator_token_previous)


def literal_choices(annotation: Any) -> tuple[str, ...]:
    """The values of a ``Literal[...]`` annotation (also inside ``X | None``)."""
    if typing.get_origin(annotation) is Literal:
        return tuple(str(a) for a in typing.get_args(annotation))
    return tuple(c for arg in typing.get_args(annotation) for c in literal_choices(arg))


def setting_names() -> frozenset[str]:
    """Every name a setting is read under (field names and their aliases, such as
    GOOGLE_API_KEY), upper case: read from the model, so a new setting is known at once."""
    names = set()
    for name, field in Settings.model_fields.items():
        names.add(name.upper())
        alias = field.validation_alias
        choices = alias.choices if isinstance(alias, AliasChoices) else [alias]
        names.update(c.upper() for c in choices if isinstance(c, str))
    return frozenset(names)


def _sentence(item: Any) -> str:
    loc = ".".join(str(part) for part in item["loc"])
    message = item["msg"].removeprefix("Value error, ")
    if not loc:
        return str(message)
    name = loc.upper()
    secret = any(w in loc.lower() for w in ("key", "token", "secret"))
    shown = "hidden" if secret else repr(item.get("input"))
    if item["type"] == "bool_parsing":
        got = "" if secret else f"={shown}"
        return f"{name}{got} is not true or false: use true or false (or 1/0, yes/no, on/off)."
    if item["type"] == "literal_error":
        expected = item.get("ctx", {}).get("expected", "")
        return f"{name}: use {expected}, in any case (got {shown})."
    return f"{name}: {message} (got {shown})."


def _describe(error: ValidationError) -> str:
    return " ".join(_sentence(item) for item in error.errors())


def where_read(path: Path | None) -> str:
    if path is None:
        return "the environment only"
    if path.is_file():
        return f"the environment and {path}"
    return f"the environment only (there is no {path})"


def _env_path(overrides: dict[str, object]) -> Path | None:
    """The .env file to read: ``_env_file`` when given (``--env-file PATH``: it must
    exist; None: no file at all, the tests' way), else ``.env`` in the current directory."""
    if "_env_file" not in overrides:
        return ENV_FILE.absolute()
    given = overrides.pop("_env_file")
    if given is None:
        return None
    path = Path(str(given)).absolute()
    if not path.is_file():
        raise ConfigError(f"--env-file {path}: no such file (give the path of a .env file).")
    return path


def load_settings(**overrides: object) -> Settings:
    """Read the environment and a ``.env`` file (see ``_env_path``); raise
    :class:`ConfigError` with a clear sentence, naming the file."""
    path = _env_path(overrides)
    known = setting_names()
    in_file = [str(n) for n in dotenv_values(path)] if path is not None and path.is_file() else []
    problems = dotenv_problems(in_file, known, str(path))
    try:
        settings = Settings(_env_file=path, **overrides)  # type: ignore[arg-type,call-arg]
    except ValidationError as error:
        problems.append(_describe(error))
    if problems:
        raise ConfigError(f"{' '.join(problems)} (Settings read from {where_read(path)}.)")
    settings._warnings = (*environment_warnings(os.environ, known), *settings.warnings)
    settings._source = where_read(path)
    return settings


class RecordsLocation(BaseSettings):
    """Only what ``python -m app calls`` reads, so it works whatever else is set."""

    model_config = SettingsConfigDict(extra="ignore")

    call_records_path: str = Settings.model_fields["call_records_path"].default
    database_url: SecretStr | None = None  # the fleet's PostgreSQL, over CALL_RECORDS_PATH


def load_records_location(**overrides: object) -> tuple[str, str]:
    """CALL_RECORDS_PATH as serving would read it, and where it was read."""
    path = _env_path(overrides)
    try:
        location = RecordsLocation(_env_file=path, **overrides)  # type: ignore[arg-type,call-arg]
    except ValidationError as error:
        raise ConfigError(_describe(error)) from None
    return location.call_records_path, where_read(path)


def load_records_database(**overrides: object) -> str | None:
    """DATABASE_URL as serving would read it (the fleet's records), if set."""
    try:
        location = RecordsLocation(_env_file=_env_path(overrides), **overrides)  # type: ignore[arg-type,call-arg]
    except ValidationError as error:
        raise ConfigError(_describe(error)) from None
    url = location.database_url.get_secret_value() if location.database_url else ""
    return url or None
