# edge: reads files and CA bundles named by settings
"""Checks of settings values for what they will be used for, each problem one sentence
naming the variable and the fix. (The settings object runs them once, at startup.)"""

from __future__ import annotations

import ipaddress
import json
import re
import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from app.agent.gemini.capabilities import option_problems
from app.agent.gemini.catalog import model_refusal, model_warning, voice_warning
from app.settings.fleet import fleet_problems
from app.telephony.sids import E164, is_account_sid

if TYPE_CHECKING:
    from app.settings.model import Settings

MIN_TOKEN_LENGTH = 32
# The server's own routes: a PUBLIC_URL ending in one of them is the webhook's address,
# not the server's (every signature would then be computed over the wrong URL).
ROUTE_PATHS = ("/incoming-call", "/media-stream", "/call-ended", "/stream-status", "/call-status")
API_VERSION = re.compile(r"v[0-9]+((alpha|beta)[0-9]*)?")
LANGUAGE = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*")
_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
HOSTNAME = re.compile(rf"(?=.{{1,253}}\Z){_LABEL}(\.{_LABEL})*")


def shown_path(path: Path | str) -> str:
    """A path as given, and where it points when it is relative (to the current
    directory, which is where the server happens to start)."""
    path = Path(path)
    return str(path) if path.is_absolute() else f"{path} (that is, {path.absolute()})"


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
            f"SSL_CERT_FILE={shown_path(path)} cannot be loaded as PEM CA certificates ({reason}):"
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
    where = f"SYSTEM_INSTRUCTION_FILE={shown_path(path)}"
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
    refusal = model_refusal(settings.model, vertex=settings.vertex)
    problems.extend([refusal] if refusal else [])
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
    return problems


def settings_warnings(settings: Settings) -> list[str]:
    """What may be a mistake but need not be: a model or voice this version does not know."""
    if settings.agent == "echo":
        return []
    warnings = [model_warning(settings.model, vertex=settings.vertex)]
    if settings.gemini_voice:
        warnings.append(voice_warning(settings.gemini_voice))
    return [w for w in warnings if w]


MODULE_NAME = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")


def tool_module_problems(modules: list[str]) -> list[str]:
    """TOOL_MODULES names importable modules (``mytools``, ``mypackage.tools``), not files."""
    problems = []
    for module in modules:
        path = Path(module)
        if path.suffix == ".py" or "/" in module or "\\" in module:
            folder = "its folder" if str(path.parent) == "." else str(path.parent)
            problems.append(
                f"TOOL_MODULES entry {module!r} is a file path: TOOL_MODULES takes module names"
                f" as Python imports them, so use {path.stem} and put {folder} on PYTHONPATH"
                " (or a package's dotted name, like mypackage.tools)."
            )
        elif not MODULE_NAME.fullmatch(module):
            problems.append(
                f"TOOL_MODULES entry {module!r} is not a module name: use dotted names like"
                " mytools or mypackage.tools, separated by commas."
            )
    return problems


def _credentials_file_problems(path: Path) -> list[str]:
    where = f"GOOGLE_APPLICATION_CREDENTIALS={shown_path(path)}"
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


def telephony_problems(settings: Settings) -> list[str]:
    problems = []
    if settings.twilio_account_sid and not is_account_sid(settings.twilio_account_sid):
        problems.append(
            "TWILIO_ACCOUNT_SID must be your account SID (AC followed by 32 hex digits)."
        )
    names: set[str] = set()
    for entry in filter(None, (e.strip() for e in settings.transfer_targets.split(","))):
        name, _, number = (part.strip() for part in entry.partition("="))
        if not re.fullmatch(r"[A-Za-z][\w-]*", name) or not E164.fullmatch(number):
            problems.append(f"TRANSFER_TARGETS entry {entry!r} must look like name=+15551234567.")
        elif name in names:
            problems.append(
                f"TRANSFER_TARGETS names {name!r} twice: give each target its own name."
            )
        names.add(name)
    if (
        settings.enable_softphone
        and settings.operator_token is None
        and settings.validates_signatures
    ):
        problems.append(
            "ENABLE_SOFTPHONE=true needs OPERATOR_TOKEN: the softphone page is opened with"
            " that token (it is open without one only in development, with"
            " ALLOW_UNSIGNED_REQUESTS=true and no TWILIO_AUTH_TOKEN)."
        )
    if settings.twilio_account_sid and settings.twilio_auth_token is None:
        problems.append(
            "TWILIO_ACCOUNT_SID is set without TWILIO_AUTH_TOKEN: Twilio's REST API needs"
            " both; set the auth token, or unset the account SID."
        )
    if settings.twilio_from_number and not E164.fullmatch(settings.twilio_from_number):
        problems.append("TWILIO_FROM_NUMBER must be in E.164 form, like +15551234567.")
    return problems


def sampling_problems(settings: Settings) -> list[str]:
    """CANDIDATE_COUNT: the Live API's reference lists candidateCount in the session's
    generationConfig, but a live session streams one reply: its server messages carry
    a single model turn and no candidate index, so a second candidate could never
    reach the caller."""
    count = settings.candidate_count
    if count is not None and count != 1:
        return [
            f"CANDIDATE_COUNT={count} cannot work in a live session: it streams one reply"
            " (its messages carry no candidate index); unset it, or set 1."
        ]
    return []


MIN_DEAD_AIR_SECONDS = 1.0


def dead_air_problems(settings: Settings) -> list[str]:
    """A bound shorter than a normal reply's delay would nudge healthy sessions."""
    problems = []
    seconds = settings.dead_air_seconds
    if 0 < seconds < MIN_DEAD_AIR_SECONDS:
        problems.append(
            f"DEAD_AIR_SECONDS={seconds:g} is shorter than Gemini's ordinary reply delay and"
            f" would nudge healthy calls: use {MIN_DEAD_AIR_SECONDS:g} or more (3 is the"
            " default), or 0 to turn dead-air recovery off."
        )
    if seconds and not settings.dead_air_instruction.strip():
        problems.append(
            "DEAD_AIR_INSTRUCTION is empty: write the short instruction that asks the agent"
            " to answer (the default works), or set DEAD_AIR_SECONDS=0 to turn recovery off."
        )
    return problems


MAX_ROTATION_DAYS = 30
UNTIL_EXAMPLE = "like 2026-12-31T12:00:00Z"


def rotation_problems(settings: Settings) -> list[str]:
    """A previous secret beside the current one needs its current one, and an end: a time
    with a zone, within MAX_ROTATION_DAYS (a rotation is a few hours or days, not a
    second secret for good)."""
    problems = []
    pairs = (
        ("TWILIO_AUTH_TOKEN", settings.twilio_auth_token, settings.twilio_auth_token_previous),
        ("OPERATOR_TOKEN", settings.operator_token, settings.operator_token_previous),
    )
    rotating = [name for name, _, previous in pairs if previous is not None]
    for name, current, previous in pairs:
        if previous is not None and current is None:
            problems.append(
                f"{name}_PREVIOUS is set but {name} is not: set {name} to the new value and"
                f" {name}_PREVIOUS to the old one, or unset {name}_PREVIOUS."
            )
    until = settings.previous_secrets_until
    if rotating and until is None:
        problems.append(
            f"{rotating[0]}_PREVIOUS is set without PREVIOUS_SECRETS_UNTIL: say until when the"
            f" old value is accepted ({UNTIL_EXAMPLE}), or unset it."
        )
    elif until is not None and until.tzinfo is None:
        problems.append(
            f"PREVIOUS_SECRETS_UNTIL={until.isoformat()} has no time zone: add one"
            f" ({UNTIL_EXAMPLE})."
        )
    elif until is not None and until - datetime.now(UTC) > timedelta(days=MAX_ROTATION_DAYS):
        problems.append(
            f"PREVIOUS_SECRETS_UNTIL={until.isoformat()} is more than {MAX_ROTATION_DAYS} days"
            " away: a rotation ends within days; choose an earlier end."
        )
    return problems


def settings_problems(settings: Settings) -> list[str]:
    """Every problem of the settings, each a sentence (SYSTEM_INSTRUCTION_FILE aside:
    the settings read it themselves, once)."""
    problems = option_problems(
        settings.model,
        thinking_budget=settings.thinking_budget,
        affective_dialog=settings.affective_dialog,
        proactive_audio=settings.proactive_audio,
        thinking_level=settings.thinking_level,
    )
    problems.extend(sampling_problems(settings))
    problems.extend(dead_air_problems(settings))
    problems.extend(backend_problems(settings))
    if settings.twilio_auth_token is None and not settings.allow_unsigned_requests:
        problems.append(
            "TWILIO_AUTH_TOKEN is not set: set it to your Twilio account's auth token (and"
            " PUBLIC_URL) so requests are checked, or, for local development only, set"
            " ALLOW_UNSIGNED_REQUESTS=true."
        )
    if settings.twilio_auth_token is not None and not settings.public_url:
        problems.append(
            "PUBLIC_URL is not set but TWILIO_AUTH_TOKEN is: set PUBLIC_URL to the https"
            " address Twilio calls (e.g. https://bot.example.com) so signatures can be"
            " checked."
        )
    problems.extend(public_url_problems(settings.public_url))
    for name, url in (
        ("GEMINI_BASE_URL", settings.gemini_base_url),
        ("TWILIO_API_BASE_URL", settings.twilio_api_base_url),
    ):
        problems.extend(base_url_problems(name, url))
    if settings.ssl_cert_file is not None:
        problems.extend(ca_file_problems(settings.ssl_cert_file))
    if settings.gemini_api_version and not API_VERSION.fullmatch(settings.gemini_api_version):
        problems.append(
            f"GEMINI_API_VERSION={settings.gemini_api_version!r} is not an API version like"
            " v1beta (Developer API) or v1beta1 (Vertex AI); unset it for the default."
        )
    if settings.gemini_language and not LANGUAGE.fullmatch(settings.gemini_language):
        problems.append(
            f"GEMINI_LANGUAGE={settings.gemini_language!r} is not a language code like en-US."
        )
    problems.extend(telephony_problems(settings))
    problems.extend(rotation_problems(settings))
    problems.extend(tool_module_problems(settings.tool_module_paths))
    if settings.host is not None:
        problems.extend(host_problems(settings.host))
    problems.extend(proxy_problems(settings.trusted_proxies))
    problems.extend(fleet_problems(settings))
    token = settings.operator_token.get_secret_value() if settings.operator_token else ""
    if settings.operator_token is not None and len(token) < MIN_TOKEN_LENGTH:
        problems.append(
            f"OPERATOR_TOKEN is shorter than {MIN_TOKEN_LENGTH} characters: use a long"
            " random one (python -c 'import secrets; print(secrets.token_urlsafe(32))')."
        )
    return problems
