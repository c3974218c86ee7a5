"""Misspelled setting names: what counts as close, what a .env file gets (an error
sentence), what the shared environment gets (a warning, only for names that look like
ours), and that real platform variables are left alone."""

from __future__ import annotations

import pytest

from app.settings.model import setting_names
from app.settings.names import (
    dotenv_problems,
    environment_warnings,
    is_close,
    looks_like_ours,
    suggestions,
    words,
)

KNOWN = setting_names()


def test_known_names_come_from_the_model_with_their_aliases() -> None:
    assert {"GEMINI_API_KEY", "GOOGLE_API_KEY", "OPERATOR_TOKEN", "PORT"} <= KNOWN
    assert all(name == name.upper() for name in KNOWN)
    assert len(KNOWN) > 60


@pytest.mark.parametrize(
    ("name", "meant"),
    [
        ("OPERATER_TOKEN", ["OPERATOR_TOKEN"]),
        ("ENABLE_SOFTFONE", ["ENABLE_SOFTPHONE"]),
        ("MAX_CONCURENT_CALLS", ["MAX_CONCURRENT_CALLS"]),
        ("GEMINI_VOICES", ["GEMINI_VOICE"]),
        ("gemini_voices", ["GEMINI_VOICE"]),  # read case-insensitively, as settings are
        ("LOGLEVEL", ["LOG_LEVEL"]),
        ("PORTS", ["PORT"]),
        ("SOFTPHONE_ENABLE", ["ENABLE_SOFTPHONE"]),  # the same words, reordered
        ("GEMINI_KEY", ["GEMINI_API_KEY"]),  # a word left out, the first one kept
        ("TWILIO_TOKEN", ["TWILIO_AUTH_TOKEN"]),
        ("MAX_CALLS", ["MAX_SOFTPHONE_CALLS", "MAX_CONCURRENT_CALLS"]),
        ("TOP_Q", ["TOP_K", "TOP_P"]),
    ],
)
def test_a_misspelling_suggests_the_setting(name: str, meant: list[str]) -> None:
    assert suggestions(name, KNOWN) == meant


@pytest.mark.parametrize(
    ("name", "known", "close"),
    [
        ("PORT", "PORT", False),  # itself
        ("POR", "PORT", True),  # one edit from a short name
        ("PO", "PORT", False),  # two edits from a short name
        ("ABCDEFGHI", "ABCDEFGHIJK", True),  # 11 characters: two edits allowed
        ("ABCDEFGHJ", "ABCDEFGHIJ", True),  # 10 characters: two edits allowed
        ("ABCDEFGJ", "ABCDEFGHIJ", True),
        ("ABCDEFJ", "ABCDEFGHIJ", False),  # three
        ("ABCDEFGJ", "ABCDEFGHI", False),  # 9 characters: one edit only
        ("ABCDEFGHJ", "ABCDEFGHI", True),
        ("B_A", "A_B", True),  # reordered
        ("A_B", "A_B_C", True),  # one word left out
        ("A", "A_B", False),  # two edits, and a single word is not enough
        ("B_C", "A_B_C", False),  # the first word must be kept
        ("A_C", "A_B_C_D", False),  # two words left out
        ("A_X", "A_B_C", False),  # a word that is not there
        ("A_A", "A_B_A", True),
        ("A_A", "A_A_A", True),  # words, not sets of words
        ("A_B", "A_A_C", False),
        ("A_C_B", "A_B_C_D", False),  # in their order
    ],
)
def test_what_counts_as_close(name: str, known: str, close: bool) -> None:
    assert is_close(name, known) is close


def test_words_split_on_underscores_in_upper_case() -> None:
    assert words("max__concurrent_calls_") == ["MAX", "CONCURRENT", "CALLS"]
    assert words("") == []


def test_a_dotenv_misspelling_is_an_error_sentence_naming_the_file() -> None:
    names = ["OPERATER_TOKEN", "GEMINI_API_KEY", "COMPOSE_PROJECT_NAME", "gemini_voices"]
    assert dotenv_problems(names, KNOWN, "/srv/bot/.env") == [
        "OPERATER_TOKEN in /srv/bot/.env is not a setting: did you mean OPERATOR_TOKEN?"
        " Rename it (as written it is ignored).",
        "gemini_voices in /srv/bot/.env is not a setting: did you mean GEMINI_VOICE?"
        " Rename it (as written it is ignored).",
    ]


def test_known_names_in_any_case_are_no_mistake() -> None:
    assert dotenv_problems(["operator_token", "Gemini_Voice"], KNOWN, ".env") == []
    assert environment_warnings(["operator_token", "log_level"], KNOWN) == []


def test_an_environment_misspelling_is_a_warning() -> None:
    names = ["MAX_CONCURENT_CALLS", "AGENT", "ENABLE_SOFTFONE", "PATH"]
    assert environment_warnings(names, KNOWN) == [
        "the environment variable ENABLE_SOFTFONE is not a setting, so it is ignored: did you"
        " mean ENABLE_SOFTPHONE?",
        "the environment variable MAX_CONCURENT_CALLS is not a setting, so it is ignored: did"
        " you mean MAX_CONCURRENT_CALLS?",
    ]


# What shells, Python, containers and platforms put in the environment.
PLATFORM = [
    "PATH", "HOME", "HOSTNAME", "PWD", "OLDPWD", "LANG", "LANGUAGE", "LC_ALL", "TERM",
    "SHELL", "USER", "LOGNAME", "SHLVL", "TZ", "TMPDIR", "PYTHONPATH", "PYTHONUNBUFFERED",
    "PYTHONDONTWRITEBYTECODE", "PYTHONHASHSEED", "VIRTUAL_ENV", "SSL_CERT_DIR",
    "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "DYNO",
    "WEB_CONCURRENCY", "K_SERVICE", "K_REVISION", "K_CONFIGURATION", "GCLOUD_PROJECT",
    "GCP_PROJECT", "CLOUDSDK_CONFIG", "NO_GCE_CHECK", "KUBERNETES_SERVICE_HOST",
    "KUBERNETES_SERVICE_PORT", "KUBERNETES_PORT", "FLY_APP_NAME", "RENDER_EXTERNAL_URL",
    "RAILWAY_PUBLIC_DOMAIN", "TWILIO_API_KEY", "TWILIO_API_SECRET", "GOOGLE_CLOUD_QUOTA_PROJECT",
    "LOGLEVEL", "PIP_INDEX_URL", "UV_CACHE_DIR", "EDITOR", "DISPLAY", "SSH_AUTH_SOCK",
]  # fmt: skip


def test_platform_variables_get_no_warning() -> None:
    assert environment_warnings(PLATFORM, KNOWN) == []


def test_only_names_with_one_of_our_words_look_like_ours() -> None:
    assert looks_like_ours("GEMINI_VOICES", KNOWN)
    assert looks_like_ours("max_calls", KNOWN)
    assert not looks_like_ours("LOGLEVEL", KNOWN)  # in .env an error, in the environment not
    assert dotenv_problems(["LOGLEVEL"], KNOWN, ".env") != []
