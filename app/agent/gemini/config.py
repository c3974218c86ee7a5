# edge: builds google-genai's configuration
"""The live session's configuration and the SDK client, built from the settings.

With :mod:`app.agent.gemini.session`, this package is all of the project that imports
``google-genai`` (its import test says so); nothing else sees an SDK object.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
import google.auth
import google.auth.credentials
import google.auth.exceptions
import google.oauth2.credentials
import httpx
from google import genai
from google.genai import errors, types
from google.oauth2 import service_account

from app.agent.gemini.capabilities import capabilities
from app.errors import ConfigError, ServiceRefused, ServiceUnreachable
from app.settings import Settings
from app.tools import Tool


def _sensitivity(kind: str, value: str | None) -> str | None:
    return f"{kind}_SENSITIVITY_{value}" if value else None


def function_declarations(
    tools: Sequence[Tool], *, async_only: bool = False
) -> list[types.Tool] | None:
    """The tools' declarations; ``async_only`` (a model that calls functions only
    asynchronously) declares every one NON_BLOCKING."""
    if not tools:
        return None
    declarations = [
        types.FunctionDeclaration(
            name=t.name,
            description=t.description,
            parameters_json_schema=t.parameters,
            behavior=types.Behavior.NON_BLOCKING if t.non_blocking or async_only else None,
        )
        for t in tools
    ]
    return [types.Tool(function_declarations=declarations)]


def _thinking(settings: Settings) -> types.ThinkingConfig | None:
    if settings.thinking_level is not None:
        return types.ThinkingConfig(
            thinking_level=types.ThinkingLevel(settings.thinking_level.upper())
        )
    if settings.thinking_budget is not None:
        return types.ThinkingConfig(thinking_budget=settings.thinking_budget)
    return None


def _penalties(settings: Settings) -> types.GenerationConfig | None:
    """Presence and frequency penalties. The Live API takes them in the setup's
    generationConfig (its reference lists them there), but google-genai 3.6.1's
    LiveConnectConfig has no fields of its own for them: only its ``generation_config``,
    which it merges into the setup's generationConfig (and calls deprecated in favour
    of those fields). So they go that way, and only when set."""
    if settings.presence_penalty is None and settings.frequency_penalty is None:
        return None
    return types.GenerationConfig(
        presence_penalty=settings.presence_penalty, frequency_penalty=settings.frequency_penalty
    )


def live_config(
    settings: Settings,
    *,
    resume_handle: str | None = None,
    tools: Sequence[Tool] = (),
    seeded: bool = False,
) -> types.LiveConnectConfig:
    """The session configuration for one call. ``seeded``: the session is told the
    conversation so far in client content before it starts (a fresh session replacing
    one that could not be resumed)."""
    caps = capabilities(settings.model)
    speech = None
    if settings.gemini_voice or settings.gemini_language:
        speech = types.SpeechConfig(
            voice_config=types.VoiceConfig(
                prebuilt_voice_config=types.PrebuiltVoiceConfig(voice_name=settings.gemini_voice)
            )
            if settings.gemini_voice
            else None,
            language_code=settings.gemini_language,
        )
    detection = types.AutomaticActivityDetection(
        start_of_speech_sensitivity=_sensitivity("START", settings.vad_start_sensitivity),  # type: ignore[arg-type]
        end_of_speech_sensitivity=_sensitivity("END", settings.vad_end_sensitivity),  # type: ignore[arg-type]
        prefix_padding_ms=settings.vad_prefix_padding_ms,
        silence_duration_ms=settings.vad_silence_duration_ms,
    )
    return types.LiveConnectConfig(
        response_modalities=[types.Modality.AUDIO],
        system_instruction=types.Content(
            role="system", parts=[types.Part(text=settings.instruction_text)]
        ),
        speech_config=speech,
        input_audio_transcription=types.AudioTranscriptionConfig(),
        output_audio_transcription=types.AudioTranscriptionConfig(),
        realtime_input_config=types.RealtimeInputConfig(automatic_activity_detection=detection),
        temperature=settings.temperature,
        top_p=settings.top_p,
        top_k=settings.top_k,
        max_output_tokens=settings.max_output_tokens,
        enable_affective_dialog=settings.affective_dialog,
        proactivity=types.ProactivityConfig(proactive_audio=settings.proactive_audio)
        if settings.proactive_audio is not None
        else None,
        thinking_config=_thinking(settings),
        generation_config=_penalties(settings),
        history_config=types.HistoryConfig(initial_history_in_client_content=True)
        if seeded
        else None,
        session_resumption=types.SessionResumptionConfig(handle=resume_handle),
        tools=function_declarations(  # type: ignore[arg-type]
            tools, async_only=caps is not None and caps.async_tools_only
        ),
        context_window_compression=types.ContextWindowCompressionConfig(
            sliding_window=types.SlidingWindow()
        ),
    )


def _ssl_context(settings: Settings) -> ssl.SSLContext | None:
    if settings.ssl_cert_file is None:
        return None
    return ssl.create_default_context(cafile=str(settings.ssl_cert_file))


CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"


def vertex_credentials(settings: Settings) -> google.auth.credentials.Credentials:
    """A service account (or other) key file when named, else application default
    credentials. The token itself is fetched, and refreshed, by google-auth."""
    try:
        path = settings.google_application_credentials
        if path is not None:
            info = json.loads(path.read_text(encoding="utf-8"))
            if info.get("type") == "service_account":
                credentials = service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
                    info, scopes=[CLOUD_PLATFORM_SCOPE]
                )
            else:  # authorized_user (checked by the settings)
                credentials = google.oauth2.credentials.Credentials.from_authorized_user_info(  # type: ignore[no-untyped-call]
                    info, scopes=[CLOUD_PLATFORM_SCOPE]
                )
        else:
            credentials, _ = google.auth.default(scopes=[CLOUD_PLATFORM_SCOPE])
    except (google.auth.exceptions.DefaultCredentialsError, ValueError) as error:
        raise ConfigError(
            f"Vertex AI needs credentials ({error}): set GOOGLE_APPLICATION_CREDENTIALS to a"
            " service account key file, or run `gcloud auth application-default login`."
        ) from None
    result: google.auth.credentials.Credentials = credentials
    return result


def make_client(settings: Settings) -> genai.Client:
    ctx = _ssl_context(settings)
    # No permessage-deflate on the live socket: base64 audio barely compresses and
    # deflating every frame cost more CPU than converting it (measured by bench.load).
    # The SDK passes these arguments on to websockets' connect().
    socket_args: dict[str, Any] = {"compression": None}
    if ctx is not None:
        socket_args["ssl"] = ctx
    options = types.HttpOptions(
        api_version=settings.api_version,
        base_url=settings.gemini_base_url,
        async_client_args=socket_args,
    )
    api_key = settings.gemini_api_key.get_secret_value() if settings.gemini_api_key else None
    if not settings.vertex:
        return genai.Client(api_key=api_key, http_options=options)
    if settings.vertex_express:
        return genai.Client(vertexai=True, api_key=api_key, http_options=options)
    return genai.Client(
        vertexai=True,
        project=settings.google_cloud_project,
        location=settings.google_cloud_location,
        credentials=vertex_credentials(settings),
        http_options=options,
    )


LIVE_METHOD = "bidiGenerateContent"


@dataclass(frozen=True)
class ModelAnswer:
    """What the service says about the configured model."""

    exists: bool
    live: bool | None  # None: the backend does not say (Vertex AI)
    live_models: tuple[str, ...]  # the Developer API's models that support the Live API


async def ask_about_model(settings: Settings) -> ModelAnswer:
    """Ask the service (the models list, or the model's description) about the model;
    :class:`ServiceRefused` for a refusal (a bad key), :class:`ServiceUnreachable` when
    it cannot be asked (no network, a TLS failure, no access token)."""
    try:
        client = make_client(settings)
        if settings.vertex:
            return await _vertex_answer(client, settings.model)
        listed = await client.aio.models.list(config={"page_size": 1000})
        live, names = set(), set()
        async for model in listed:
            name = (model.name or "").removeprefix("models/")
            names.add(name)
            if LIVE_METHOD in (model.supported_actions or []):
                live.add(name)
        wanted = settings.model.removeprefix("models/")
        return ModelAnswer(wanted in names, wanted in live, tuple(sorted(live)))
    except errors.APIError as error:
        raise ServiceRefused(error.code, error.message or str(error)) from None
    except google.auth.exceptions.GoogleAuthError as error:
        raise ServiceUnreachable(f"no Vertex AI access token: {error}") from None
    except (OSError, TimeoutError, httpx.HTTPError, aiohttp.ClientError) as error:
        raise ServiceUnreachable(_reason(error)) from None


def _reason(error: BaseException) -> str:
    """Why a connection failed, without the client library's object reprs."""
    cause = getattr(error, "os_error", None) or error  # aiohttp's ClientConnectorError
    if isinstance(cause, OSError) and cause.strerror:
        return cause.strerror
    return str(cause) or type(cause).__name__


async def _vertex_answer(client: genai.Client, model: str) -> ModelAnswer:
    try:
        await client.aio.models.get(model=model)
    except errors.ClientError as error:
        if error.code == 404:
            return ModelAnswer(exists=False, live=None, live_models=())
        raise
    return ModelAnswer(exists=True, live=None, live_models=())
