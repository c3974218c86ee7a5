"""Configuration: read once at startup into one typed, validated object.

Nothing else in the project reads the environment. A wrong or missing value stops
the server with :class:`ConfigError`, whose message names the variable and the fix.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

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
from app.errors import ConfigError
from app.settings.checks import read_instruction, settings_problems

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
ThinkingLevel = Literal["low", "medium", "high"]


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
    fast_barge_in: bool = False
    outbound_greeting: str = DEFAULT_OUTBOUND_GREETING
    twilio_account_sid: str | None = None
    twilio_from_number: str | None = None
    twilio_api_base_url: str | None = None
    operator_token: SecretStr | None = None
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
        problems = []
        if self.system_instruction_file is not None:  # read once, here
            self._instruction, problem = read_instruction(self.system_instruction_file)
            problems.extend([problem] if problem else [])
        problems.extend(settings_problems(self))
        if problems:
            raise ValueError(" ".join(problems))
        return self

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
