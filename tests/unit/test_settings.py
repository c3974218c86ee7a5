"""Settings are validated once; a bad value stops startup with a sentence that says why."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from app.agent.gemini.config import live_config
from app.errors import ConfigError
from app.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]
EXTENDED = "gemini-3.8-live-extended-thinking"


def load(**values: Any) -> Any:
    values.setdefault("gemini_api_key", "k")
    values.setdefault("allow_unsigned_requests", True)
    return load_settings(_env_file=None, **values)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"gemini_api_key": ""}, "GEMINI_API_KEY is not set"),
        ({"gemini_api_key": ""}, "or set AGENT=echo"),
        ({"allow_unsigned_requests": False}, "TWILIO_AUTH_TOKEN is not set"),
        ({"temperature": 3}, "TEMPERATURE"),
        ({"vad_start_sensitivity": "MEDIUM"}, "VAD_START_SENSITIVITY"),
        ({"twilio_auth_token": "t"}, "PUBLIC_URL is not set"),
        ({"twilio_auth_token": "t", "public_url": "bot.example.com"}, "must start with https://"),
        ({"thinking_budget": 128}, "THINKING_BUDGET is not supported by model gemini-3.8-live"),
        ({"affective_dialog": True}, "AFFECTIVE_DIALOG is not supported by model gemini-3.8"),
        ({"proactive_audio": False}, "PROACTIVE_AUDIO=false is not allowed"),
        ({"thinking_level": "low"}, "THINKING_LEVEL is not supported by model gemini-3.8-live"),
        (
            {"gemini_model": EXTENDED, "thinking_budget": 0},
            f"THINKING_BUDGET is not supported by model {EXTENDED} (Gemini 3.8 Live Extended"
            " Thinking): unset it (set THINKING_LEVEL instead).",
        ),
        ({"gemini_model": EXTENDED, "thinking_level": "extreme"}, "THINKING_LEVEL"),
        ({"gemini_model": EXTENDED, "proactive_audio": False}, "PROACTIVE_AUDIO=false"),
        ({"gemini_model": EXTENDED, "affective_dialog": True}, "AFFECTIVE_DIALOG is not"),
        ({"candidate_count": 2}, "CANDIDATE_COUNT=2 cannot work in a live session"),
        ({"candidate_count": 0}, "CANDIDATE_COUNT"),
        ({"presence_penalty": 2.0}, "PRESENCE_PENALTY"),
        ({"frequency_penalty": -2.5}, "FREQUENCY_PENALTY"),
        ({"dead_air_seconds": 0.5}, "DEAD_AIR_SECONDS=0.5 is shorter than"),
        ({"dead_air_seconds": -1}, "DEAD_AIR_SECONDS"),
        ({"dead_air_instruction": " "}, "DEAD_AIR_INSTRUCTION is empty"),
        ({"thinking_audio_after_ms": -1}, "THINKING_AUDIO_AFTER_MS"),
        ({"system_instruction_file": "/nonexistent"}, "SYSTEM_INSTRUCTION_FILE"),
        ({"ssl_cert_file": "/nonexistent.pem"}, "SSL_CERT_FILE"),
    ],
)
def test_bad_settings_name_the_variable(values: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as error:
        load(**values)
    assert message in str(error.value)


def test_native_audio_model_accepts_its_options() -> None:
    settings = load(
        gemini_model="gemini-2.5-flash-native-audio-preview-12-2025",
        thinking_budget=0,
        affective_dialog=True,
        proactive_audio=False,
    )
    config = live_config(settings)
    assert config.enable_affective_dialog is True
    assert config.thinking_config is not None and config.thinking_config.thinking_budget == 0
    assert config.proactivity is not None and config.proactivity.proactive_audio is False


def test_extended_thinking_takes_a_level_and_declares_every_tool_async() -> None:
    from app.tools import end_call_tool

    settings = load(gemini_model=EXTENDED, thinking_level="medium")
    config = live_config(settings, tools=[end_call_tool()])
    assert config.thinking_config is not None
    assert str(config.thinking_config.thinking_level.value) == "MEDIUM"  # type: ignore[union-attr]
    assert config.thinking_config.thinking_budget is None
    (declaration,) = config.tools[0].function_declarations  # type: ignore[index,union-attr,misc]
    assert str(declaration.behavior.value) == "NON_BLOCKING"  # type: ignore[union-attr]
    # Gemini 3.8 Live calls functions NON_BLOCKING by default: nothing is declared there.
    (default,) = live_config(load(), tools=[end_call_tool()]).tools[0].function_declarations  # type: ignore[index,union-attr,misc]
    assert default.behavior is None


def test_penalties_go_in_the_generation_config_and_history_only_when_seeded() -> None:
    config = live_config(load(presence_penalty=0.5, frequency_penalty=-0.25, candidate_count=1))
    assert config.generation_config is not None
    assert (
        config.generation_config.presence_penalty,
        config.generation_config.frequency_penalty,
    ) == (
        0.5,
        -0.25,
    )
    assert config.generation_config.candidate_count is None  # one is what a session streams
    assert config.history_config is None
    plain = live_config(load(), seeded=True)
    assert plain.generation_config is None
    assert plain.history_config is not None
    assert plain.history_config.initial_history_in_client_content is True


def test_live_config_carries_the_settings(tmp_path: Path) -> None:
    instruction = tmp_path / "prompt.txt"
    instruction.write_text("You are Ada, the bakery's assistant.\n")
    settings = load(
        gemini_voice="Kore",
        gemini_language="en-GB",
        system_instruction_file=str(instruction),
        temperature=0.4,
        top_p=0.9,
        top_k=20,
        max_output_tokens=512,
        vad_start_sensitivity="LOW",
        vad_end_sensitivity="HIGH",
        vad_prefix_padding_ms=40,
        vad_silence_duration_ms=600,
    )
    config = live_config(settings)
    assert config.system_instruction.parts[0].text == "You are Ada, the bakery's assistant."  # type: ignore[union-attr,index]
    assert config.speech_config.voice_config.prebuilt_voice_config.voice_name == "Kore"  # type: ignore[union-attr]
    assert config.speech_config.language_code == "en-GB"  # type: ignore[union-attr]
    assert (config.temperature, config.top_p, config.top_k) == (0.4, 0.9, 20)
    assert config.max_output_tokens == 512
    detection = config.realtime_input_config.automatic_activity_detection  # type: ignore[union-attr]
    assert detection is not None
    assert str(detection.start_of_speech_sensitivity.value) == "START_SENSITIVITY_LOW"  # type: ignore[union-attr]
    assert str(detection.end_of_speech_sensitivity.value) == "END_SENSITIVITY_HIGH"  # type: ignore[union-attr]
    assert (detection.prefix_padding_ms, detection.silence_duration_ms) == (40, 600)
    assert config.input_audio_transcription is not None
    assert config.output_audio_transcription is not None
    assert config.thinking_config is None and config.enable_affective_dialog is None


def test_google_api_key_is_accepted_too() -> None:
    settings = load_settings(
        _env_file=None, GOOGLE_API_KEY="from-google", allow_unsigned_requests=True
    )
    assert settings.gemini_api_key is not None
    assert settings.gemini_api_key.get_secret_value() == "from-google"


def _clean_env(**extra: str) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("GEMINI_", "GOOGLE_", "TWILIO_"))
    }
    env.update(extra)
    return env


def test_server_refuses_to_start_without_a_key(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "app"],
        cwd=tmp_path,  # no .env here
        env=_clean_env(PYTHONPATH=str(ROOT)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "configuration error: GEMINI_API_KEY is not set" in result.stderr


def test_dotenv_file_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_text(
        "GEMINI_API_KEY=from-dotenv\nGEMINI_VOICE=Puck\nALLOW_UNSIGNED_REQUESTS=true\n"
    )
    monkeypatch.chdir(tmp_path)
    for name in ("GEMINI_API_KEY", "GOOGLE_API_KEY", "GEMINI_VOICE"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings()
    assert settings.gemini_voice == "Puck"


def test_env_example_is_complete_and_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from app.settings import Settings

    example = (ROOT / ".env.example").read_text()
    names = {
        line.split("=", 1)[0] for line in example.splitlines() if "=" in line and line[0] != "#"
    }
    fields = {name.upper() for name in Settings.model_fields}
    assert fields <= names, f"missing from .env.example: {fields - names}"
    filled = example.replace("GEMINI_API_KEY=\n", "GEMINI_API_KEY=k\n")
    filled = filled.replace("ALLOW_UNSIGNED_REQUESTS=false", "ALLOW_UNSIGNED_REQUESTS=true")
    (tmp_path / ".env").write_text(filled)
    monkeypatch.chdir(tmp_path)
    for name in names:
        monkeypatch.delenv(name, raising=False)
    settings = load_settings()
    assert settings.temperature is None and settings.twilio_auth_token is None
    assert settings.greeting.startswith("The caller has just been connected")


def test_empty_greeting_means_wait_for_the_caller() -> None:
    assert load(greeting="").greeting == ""


def test_the_thinking_sound_and_dead_air_policy_are_built_once_from_the_settings(
    tmp_path: Path,
) -> None:
    import io
    import wave

    from app.audio import thinking_sound
    from app.server.services import bridge_options

    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(22050)
        wav.writeframes(b"\x10\x00" * 22050)
    (tmp_path / "hum.wav").write_bytes(out.getvalue())
    options = bridge_options(
        load(thinking_audio_file=str(tmp_path / "hum.wav"), thinking_audio_after_ms=500)
    )
    assert options.core.thinking.sound == thinking_sound.from_wav(out.getvalue())
    assert options.core.thinking.after_s == 0.5
    assert bridge_options(load()).core.thinking.sound == thinking_sound.built_in()
    assert bridge_options(load(thinking_audio_after_ms=0)).core.thinking.sound == b""
    dead_air = bridge_options(load(dead_air_seconds=4, gemini_connect_timeout_s=6)).core.dead_air
    assert (dead_air.seconds, dead_air.switch_wait_s) == (4, 10)
    assert dead_air.instruction.startswith("The caller is hearing silence")
