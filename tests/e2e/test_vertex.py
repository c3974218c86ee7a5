"""Vertex AI end to end, with google-auth's real service-account token flow.

The key is generated here; its ``token_uri`` points at a local token endpoint, so
google-auth signs a JWT, fetches a token, and the SDK sends it as
``Authorization: Bearer`` to the stand-in on the Vertex path. Tokens are issued with
a short life, so a later connection of the same call (after goAway) must present a
refreshed one.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from app.errors import ConfigError
from app.server.app import create_app
from app.settings import load_settings
from tests.support.calls import QUESTION, REPLY, answer_question, start_call
from tests.support.gemini_standin import GeminiStandIn, StandInConnection
from tests.support.server import serve_app, serve_asgi, settings_for
from tests.support.token_endpoint import TokenEndpoint

PROJECT = "phone-bot-test"
VERTEX_MODEL = f"projects/{PROJECT}/locations/europe-west4/publishers/google/models/gemini-live-2.5-flash-native-audio"


@pytest.fixture
async def tokens() -> AsyncIterator[TokenEndpoint]:
    endpoint = TokenEndpoint(expires_in=1)  # always stale by the next connection
    async with serve_asgi(endpoint.app()) as running:
        endpoint.url = running.base
        yield endpoint


def vertex_settings(standin: GeminiStandIn, key_file: Path | None, **extra: Any) -> Any:
    values: dict[str, Any] = {
        "gemini_api_key": None,
        "google_genai_use_vertexai": True,
        "google_cloud_project": PROJECT,
        "google_cloud_location": "europe-west4",
        "google_application_credentials": key_file,
    }
    values.update(extra)
    return settings_for(standin, **values)


async def test_a_call_runs_on_vertex_with_the_service_account_token_flow(
    standin: GeminiStandIn, tokens: TokenEndpoint, tmp_path: Path
) -> None:
    key_file = tokens.write_key_file(tmp_path / "sa.json", PROJECT)
    standin.bearer_ok = tokens.valid

    async def first(conn: StandInConnection) -> None:
        await answer_question(conn)
        await conn.resumption("vertex-handle")
        await conn.go_away("10s")

    async def second(conn: StandInConnection) -> None:
        await conn.wait_audio_ms(40)

    standin.scenario = lambda conn: (first if conn.index == 0 else second)(conn)
    async with serve_app(vertex_settings(standin, key_file)) as server:
        _, stream = await start_call(server)
        await stream.replay(QUESTION, stop=False)
        await stream.wait_for(lambda: len(stream.media_received) >= len(REPLY) // 6, timeout=15)
        await stream.replay([*QUESTION[2:30]], stop=False)  # keep talking across the switch
        async with asyncio.timeout(10):
            while len(standin.connections) < 2 or standin.connections[1].audio_ms < 40:
                await asyncio.sleep(0.02)
        await stream.stop(QUESTION[1]["start"]["callSid"])
        await stream.wait_closed()

    one, two = standin.connections
    assert one.vertex and two.vertex
    assert one.setup["model"] == VERTEX_MODEL
    # google-auth fetched a token for each connection (the first went stale) and the
    # SDK presented it; the token endpoint verified the key's JWT each time.
    assert len(tokens.issued) == 2 and [one.bearer, two.bearer] == tokens.issued
    assert tokens.assertions[0]["iss"] == f"bot@{PROJECT}.iam.gserviceaccount.com"
    assert tokens.assertions[0]["scope"] == "https://www.googleapis.com/auth/cloud-platform"
    assert two.resume_handle == "vertex-handle"
    assert len(one.audio) >= 4 * 150 * 160  # the caller's question went through


async def test_a_refused_token_ends_the_call_with_the_apology(
    standin: GeminiStandIn, tokens: TokenEndpoint, tmp_path: Path
) -> None:
    tokens.refuse = True
    key_file = tokens.write_key_file(tmp_path / "sa.json", PROJECT)
    async with serve_app(vertex_settings(standin, key_file)) as server:
        _, stream = await start_call(server)
        await stream.replay(QUESTION[:10])
        await stream.wait_closed()
        summary = server.calls.recent[-1]
    assert summary.outcome.value == "agent_failed"
    assert "Google credentials failed" in summary.reason and "invalid_grant" in summary.reason
    assert standin.connections == []
    assert len(tokens.assertions) == 1  # not retried: the grant was refused


async def test_a_wrong_bearer_token_is_refused_by_the_service(
    standin: GeminiStandIn, tokens: TokenEndpoint, tmp_path: Path
) -> None:
    key_file = tokens.write_key_file(tmp_path / "sa.json", PROJECT)
    standin.bearer_ok = lambda token: False
    async with serve_app(vertex_settings(standin, key_file)) as server:
        _, stream = await start_call(server)
        await stream.replay(QUESTION[:10])
        await stream.wait_closed()
        summary = server.calls.recent[-1]
    assert summary.outcome.value == "agent_failed" and "401" in summary.reason
    assert standin.rejected == ["bearer token"]  # a 401 is not retried


async def test_vertex_express_mode_uses_the_api_key(standin: GeminiStandIn) -> None:
    standin.scenario = answer_question
    settings = settings_for(standin, google_genai_use_vertexai=True, google_cloud_project=None)
    assert settings.vertex_express
    async with serve_app(settings) as server:
        _, stream = await start_call(server)
        await stream.replay(QUESTION, stop=False)
        await stream.wait_for(lambda: len(stream.media_received) >= len(REPLY) // 6, timeout=15)
        await stream.stop(QUESTION[1]["start"]["callSid"])
        await stream.wait_closed()
    conn = standin.connections[0]
    assert conn.vertex and conn.headers.get("x-goog-api-key") == standin.api_key
    assert conn.setup["model"].endswith("models/gemini-live-2.5-flash-native-audio")


def _load(**values: Any) -> Any:
    return load_settings(
        _env_file=None, allow_unsigned_requests=True, google_genai_use_vertexai=True, **values
    )


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({}, "GOOGLE_CLOUD_PROJECT is not set"),
        (
            {"google_cloud_project": "p", "google_application_credentials": "/no/such.json"},
            "cannot be read",
        ),
        (
            {
                "google_cloud_project": "p",
                "gemini_model": "gemini-2.5-flash-native-audio-preview-12-2025",
            },
            "on Vertex AI the model is called gemini-live-2.5-flash-native-audio",
        ),
    ],
)
def test_vertex_misconfiguration_stops_startup(values: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _load(**values)


def test_a_file_that_is_not_a_key_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "notes.json"
    bad.write_text(json.dumps({"hello": "world"}))
    with pytest.raises(ConfigError, match="is not a service account or user credentials file"):
        _load(google_cloud_project="p", google_application_credentials=str(bad))
    bad.write_text("not json")
    with pytest.raises(ConfigError, match="not a JSON credentials file"):
        _load(google_cloud_project="p", google_application_credentials=str(bad))


def test_missing_application_default_credentials_stop_startup(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.setenv("NO_GCE_CHECK", "True")  # no metadata server here
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path))  # no gcloud login either
    monkeypatch.setenv("HOME", str(tmp_path))
    settings = _load(google_cloud_project="p")
    with pytest.raises(ConfigError, match="Vertex AI needs credentials"):
        create_app(settings)


def test_default_model_and_version_follow_the_backend() -> None:
    vertex = _load(google_cloud_project="p")
    assert (vertex.model, vertex.api_version) == ("gemini-live-2.5-flash-native-audio", "v1beta1")
    developer = load_settings(_env_file=None, allow_unsigned_requests=True, gemini_api_key="k")
    assert (developer.model, developer.api_version) == ("gemini-3.8-live", "v1beta")
