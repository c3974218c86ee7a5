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
        (
            {"gemini_model": EXTENDED, "thinking_level": "minimal"},
            "THINKING_LEVEL=minimal is not a level model gemini-3.8-live-extended-thinking"
            " (Gemini 3.8 Live Extended Thinking) takes: use one of low, medium, high.",
        ),
        (
            {"gemini_model": "gemini-3.1-flash-live-preview", "proactive_audio": True},
            "PROACTIVE_AUDIO is not supported by model gemini-3.1-flash-live-preview",
        ),
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


@pytest.mark.parametrize("level", ["minimal", "low", "medium", "high"])
def test_the_3_1_preview_takes_every_thinking_level(level: str) -> None:
    settings = load(gemini_model="gemini-3.1-flash-live-preview", thinking_level=level)
    assert settings.thinking_level == level


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


# rotating a secret

SOON = "2030-01-01T00:00:00Z"


def rotation(**values: Any) -> dict[str, Any]:
    return {"twilio_auth_token": "new-token", "public_url": "https://bot.example.com", **values}


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            rotation(twilio_auth_token_previous="old"),
            "TWILIO_AUTH_TOKEN_PREVIOUS is set without PREVIOUS_SECRETS_UNTIL: say until when"
            " the old value is accepted (like 2026-12-31T12:00:00Z), or unset it.",
        ),
        (
            {"operator_token_previous": "o" * 32, "previous_secrets_until": SOON},
            "OPERATOR_TOKEN_PREVIOUS is set but OPERATOR_TOKEN is not: set OPERATOR_TOKEN to"
            " the new value and OPERATOR_TOKEN_PREVIOUS to the old one, or unset"
            " OPERATOR_TOKEN_PREVIOUS.",
        ),
        (
            rotation(twilio_auth_token_previous="old", previous_secrets_until="2026-12-31T12:00"),
            "PREVIOUS_SECRETS_UNTIL=2026-12-31T12:00:00 has no time zone: add one (like"
            " 2026-12-31T12:00:00Z).",
        ),
        (
            rotation(twilio_auth_token_previous="old", previous_secrets_until="2099-01-01T00:00Z"),
            "PREVIOUS_SECRETS_UNTIL=2099-01-01T00:00:00+00:00 is more than 30 days away: a"
            " rotation ends within days; choose an earlier end.",
        ),
    ],
)
def test_a_rotation_needs_its_current_value_and_a_near_end(
    values: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError) as error:
        load(**values)
    assert message in str(error.value)


def test_a_rotation_in_progress_and_one_already_over() -> None:
    import datetime as dt

    until = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)).isoformat()
    settings = load(**rotation(twilio_auth_token_previous="old", previous_secrets_until=until))
    auth = settings.auth_token
    assert auth is not None and auth.current == "new-token" and auth.previous == "old"
    assert auth.previous_until == dt.datetime.fromisoformat(until).timestamp()
    assert "old" in settings.secret_values()
    past = load(
        **rotation(twilio_auth_token_previous="old", previous_secrets_until="2020-01-01T00:00:00Z")
    )
    assert past.auth_token is not None and past.auth_token.values(
        dt.datetime.now().timestamp()
    ) == ("new-token",)
    assert load().operator_secret is None and load().auth_token is None


def test_a_misspelled_name_in_dotenv_stops_startup_naming_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(
        "GEMINI_API_KEY=k\nALLOW_UNSIGNED_REQUESTS=true\nOPERATER_TOKEN=" + "t" * 40
    )
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as error:
        load_settings()
    assert str(error.value) == (
        f"OPERATER_TOKEN in {env_file} is not a setting: did you mean OPERATOR_TOKEN? Rename"
        f" it (as written it is ignored). (Settings read from the environment and {env_file}.)"
    )


def test_a_misspelled_environment_variable_is_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENABLE_SOFTFONE", "true")
    monkeypatch.setenv("LOGLEVEL", "debug")  # no word of ours: someone else's
    settings = load()
    assert (
        "the environment variable ENABLE_SOFTFONE is not a setting, so it is ignored: did you"
        " mean ENABLE_SOFTPHONE?"
    ) in settings.warnings
    assert not any("LOGLEVEL" in w for w in settings.warnings)
    assert not settings.enable_softphone


def test_env_file_names_another_file_and_a_missing_one_is_named(tmp_path: Path) -> None:
    env_file = tmp_path / "bot.env"
    env_file.write_text("GEMINI_API_KEY=k\nALLOW_UNSIGNED_REQUESTS=true\nGEMINI_VOICE=puck\n")
    settings = load_settings(_env_file=env_file)
    assert settings.gemini_voice == "Puck"
    assert settings.source == f"the environment and {env_file}"
    with pytest.raises(ConfigError) as error:
        load_settings(_env_file=tmp_path / "missing.env")
    assert str(error.value) == (
        f"--env-file {tmp_path / 'missing.env'}: no such file (give the path of a .env file)."
    )


def test_errors_say_where_the_settings_were_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    with pytest.raises(ConfigError) as error:
        load_settings(allow_unsigned_requests=True)
    assert str(error.value).endswith(
        f"(Settings read from the environment only (there is no {tmp_path / '.env'}).)"
    )


@pytest.mark.parametrize("name", ["enable_softphone", "forward_dtmf", "allow_unsigned_requests"])
def test_a_boolean_that_is_not_true_or_false_says_so(name: str) -> None:
    with pytest.raises(ConfigError) as error:
        load(**{name: "enabled"})
    assert str(error.value).startswith(
        f"{name.upper()}='enabled' is not true or false: use true or false (or 1/0, yes/no,"
        " on/off)."
    )


def test_a_secret_that_is_not_a_boolean_is_not_shown() -> None:
    with pytest.raises(ConfigError) as error:
        load(gemini_api_key=["not a string"])
    assert "not a string" not in str(error.value) and "hidden" in str(error.value)


@pytest.mark.parametrize(
    ("values", "read"),
    [
        ({"log_level": "DEBUG"}, ("log_level", "debug")),
        ({"log_level": " Warning "}, ("log_level", "warning")),
        ({"log_format": "JSON"}, ("log_format", "json")),
        ({"agent": "Echo"}, ("agent", "echo")),
        ({"vad_start_sensitivity": "low"}, ("vad_start_sensitivity", "LOW")),
        ({"gemini_voice": "kore"}, ("gemini_voice", "Kore")),
        ({"gemini_voice": "Koree"}, ("gemini_voice", "Koree")),  # unknown: kept, with a warning
    ],
)
def test_choices_are_taken_in_any_case(values: dict[str, Any], read: tuple[str, str]) -> None:
    name, value = read
    assert getattr(load(**values), name) == value


def test_a_choice_outside_the_list_names_the_list() -> None:
    with pytest.raises(ConfigError) as error:
        load(log_level="verbose")
    assert str(error.value).startswith(
        "LOG_LEVEL: use 'debug', 'info', 'warning' or 'error', in any case (got 'verbose')."
    )


@pytest.mark.parametrize(
    ("modules", "sentence"),
    [
        (
            "/srv/bot/mytools.py",
            "TOOL_MODULES entry '/srv/bot/mytools.py' is a file path: TOOL_MODULES takes module"
            " names as Python imports them, so use mytools and put /srv/bot on PYTHONPATH (or a"
            " package's dotted name, like mypackage.tools).",
        ),
        ("mytools.py", "so use mytools and put its folder on PYTHONPATH"),
        ("tools/mytools", "so use mytools and put tools on PYTHONPATH"),
        (
            "app.tools.examples, my-tools",
            "TOOL_MODULES entry 'my-tools' is not a module name: use dotted names like mytools"
            " or mypackage.tools, separated by commas.",
        ),
    ],
)
def test_tool_modules_take_module_names(modules: str, sentence: str) -> None:
    with pytest.raises(ConfigError) as error:
        load(tool_modules=modules)
    assert sentence in str(error.value)


def test_model_names_are_checked_against_the_table() -> None:
    with pytest.raises(ConfigError, match="is Vertex AI's name; on the Developer API the model"):
        load(gemini_model="gemini-live-2.5-flash-native-audio")
    warned = load(gemini_model="gemini-2.5-flash", gemini_voice="Koree").warnings
    assert [w.split(" ")[0] for w in warned] == [
        "GEMINI_MODEL=gemini-2.5-flash",
        "GEMINI_VOICE=Koree",
    ]
    assert load(agent="echo", gemini_model="anything", gemini_voice="x").warnings == ()
