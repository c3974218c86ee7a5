"""`python -m app check --online` asks the service, here the Gemini stand-in over TLS
through the real SDK: a Live model passes, a model without the Live API or with no
such name is refused with the Live models the service lists, a refused key is named,
and an unreachable service is said plainly, with the offline verdict kept."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.ops.gemini_standin import GeminiStandIn
from tests.support.process import run_app
from tests.support.server import free_port, process_env

LISTED = (
    "gemini-2.5-flash-native-audio-preview-09-2025, gemini-2.5-flash-native-audio-preview-12-2025,"
    " gemini-3.1-flash-live-preview, gemini-3.8-live, gemini-3.8-live-extended-thinking"
)


def online_env(standin: GeminiStandIn, tmp: Path, **values: str) -> dict[str, str]:
    env = process_env(
        GEMINI_API_KEY=standin.api_key,
        GEMINI_BASE_URL=standin.base_url,
        SSL_CERT_FILE=str(standin.ca_file),
        ALLOW_UNSIGNED_REQUESTS="true",
        HOST="127.0.0.1",
        PORT=str(free_port()),
        CALL_RECORDS_PATH="",
        HOME=str(tmp),
    )
    return {**env, **values}


async def test_a_live_model_the_key_may_use_passes(standin: GeminiStandIn, tmp_path: Path) -> None:
    standin.models["gemini-4-live"] = ["bidiGenerateContent"]  # newer than this version
    ran = await run_app(tmp_path, online_env(standin, tmp_path), "check", "--online")
    assert ran.code == 0, ran
    assert ran.stdout.splitlines()[-2:] == [
        f"online: {standin.base_url} accepts the key, and gemini-3.8-live supports the Live API",
        "online: Live models this version's table does not know yet: gemini-4-live",
    ]
    assert standin.rest_requests == ["/v1beta/models?pageSize=1000"]


@pytest.mark.parametrize(
    ("model", "sentence"),
    [
        (
            "gemini-2.5-flash",
            "configuration error: GEMINI_MODEL=gemini-2.5-flash exists but does not support the"
            " Live API (bidiGenerateContent), which a phone call needs. The Live models it lists"
            f" for this key: {LISTED}.",
        ),
        (
            "gemini-3.8-live-preview",
            "configuration error: GEMINI_MODEL=gemini-3.8-live-preview: the service at {base}"
            f" has no such model. The Live models it lists for this key: {LISTED}.",
        ),
    ],
)
async def test_a_model_the_service_cannot_use_is_refused(
    standin: GeminiStandIn, tmp_path: Path, model: str, sentence: str
) -> None:
    env = online_env(standin, tmp_path, GEMINI_MODEL=model)
    offline = await run_app(tmp_path, env, "check")
    assert offline.code == 0, offline  # offline it is only a warning: models appear
    assert offline.stderr.startswith(f"warning: GEMINI_MODEL={model} is not a Live model")
    ran = await run_app(tmp_path, env, "check", "--online")
    assert ran.code == 1
    assert ran.stderr.splitlines()[-1] == sentence.format(base=standin.base_url)


async def test_a_refused_key_is_named(standin: GeminiStandIn, tmp_path: Path) -> None:
    env = online_env(standin, tmp_path, GEMINI_API_KEY="not-the-key")
    ran = await run_app(tmp_path, env, "check", "--online")
    assert ran.code == 1
    assert ran.stderr == (
        f"configuration error: the Gemini service at {standin.base_url} refused GEMINI_API_KEY"
        " (HTTP 400: API key not valid. Please pass a valid API key.): check the key (Google AI"
        " Studio lists yours) and that its project may use the Gemini API.\n"
    )
    assert "not-the-key" not in ran.stdout + ran.stderr


async def test_an_unreachable_service_is_said_plainly(
    standin: GeminiStandIn, tmp_path: Path
) -> None:
    nowhere = f"https://127.0.0.1:{free_port()}"
    env = online_env(standin, tmp_path, GEMINI_BASE_URL=nowhere)
    ran = await run_app(tmp_path, env, "check", "--online")
    assert ran.code == 0, ran
    assert ran.stdout.startswith("settings are valid\n")
    assert ran.stdout.splitlines()[-1] == (
        f"online: NOT CHECKED: could not reach the Gemini service at {nowhere} (Connect call"
        f" failed ('127.0.0.1', {nowhere.rsplit(':', 1)[1]})); the key and the model were checked"
        " offline only, against this version's table"
    )
    untrusted = online_env(standin, tmp_path)
    del untrusted["SSL_CERT_FILE"]  # the stand-in's CA is not trusted: TLS fails
    ran = await run_app(tmp_path, untrusted, "check", "--online")
    assert "online: NOT CHECKED" in ran.stdout and "CERTIFICATE_VERIFY_FAILED" in ran.stdout


async def test_echo_mode_has_nothing_to_ask(standin: GeminiStandIn, tmp_path: Path) -> None:
    ran = await run_app(tmp_path, online_env(standin, tmp_path, AGENT="echo"), "check", "--online")
    assert ran.code == 0
    assert ran.stdout.splitlines()[-1] == "online: nothing to ask (AGENT=echo uses no Gemini)"
    assert standin.rest_requests == []


async def test_vertex_ai_is_asked_whether_the_model_exists(
    standin: GeminiStandIn, tmp_path: Path
) -> None:
    env = online_env(standin, tmp_path, GOOGLE_GENAI_USE_VERTEXAI="true")  # express mode: a key
    ran = await run_app(tmp_path, env, "check", "--online")
    assert ran.code == 0, ran
    assert ran.stdout.splitlines()[-1] == (
        f"online: {standin.base_url} has the model gemini-live-2.5-flash-native-audio (Vertex AI"
        " does not say which models support the Live API: that is checked by the first call)"
    )
    standin.vertex_models.clear()
    ran = await run_app(tmp_path, env, "check", "--online")
    assert ran.code == 1
    assert ran.stderr == (
        "configuration error: GEMINI_MODEL=gemini-live-2.5-flash-native-audio: the service at"
        f" {standin.base_url} has no such model.\n"
    )
