"""The table of Live models and voices: certain knowledge refused with the right name
(a shut-down model, the other backend's name), uncertain knowledge warned about with
the closest known names (a new or misspelled model, an unknown voice)."""

from __future__ import annotations

import pytest

from app.agent.gemini.capabilities import DEVELOPER_DEFAULT_MODEL, VERTEX_DEFAULT_MODEL
from app.agent.gemini.catalog import (
    LIVE_MODELS,
    VOICES,
    Backend,
    bare_name,
    entry,
    known_voice,
    model_refusal,
    model_warning,
    usable,
    voice_warning,
)

DEV, VERTEX = Backend.DEVELOPER, Backend.VERTEX


def test_the_table_holds_the_models_google_documents() -> None:
    developer = {m.name for m in LIVE_MODELS if m.backend is DEV}
    vertex = {m.name for m in LIVE_MODELS if m.backend is VERTEX}
    assert {
        "gemini-3.8-live",
        "gemini-3.8-live-extended-thinking",
        "gemini-3.1-flash-live-preview",
        "gemini-2.5-flash-native-audio-preview-12-2025",
        "gemini-2.5-flash-native-audio-preview-09-2025",
    } <= developer
    assert {"gemini-3.8-live", "gemini-live-2.5-flash-native-audio"} <= vertex
    assert DEVELOPER_DEFAULT_MODEL in usable(DEV) and VERTEX_DEFAULT_MODEL in usable(VERTEX)


def test_every_counterpart_and_replacement_is_in_the_table() -> None:
    for model in LIVE_MODELS:
        other = VERTEX if model.backend is DEV else DEV
        if model.counterpart is not None:
            assert entry(model.counterpart, other) is not None, model
        if model.shut_down is not None:
            assert model.replacement in usable(model.backend), model
            assert model.status == "shut down"


def test_each_name_is_listed_once_per_backend() -> None:
    keys = [(m.name, m.backend) for m in LIVE_MODELS]
    assert len(keys) == len(set(keys))


@pytest.mark.parametrize(
    ("model", "bare"),
    [
        ("gemini-3.8-live", "gemini-3.8-live"),
        ("models/gemini-3.8-live", "gemini-3.8-live"),
        ("publishers/google/models/gemini-3.8-live", "gemini-3.8-live"),
    ],
)
def test_a_resource_path_is_read_as_its_last_part(model: str, bare: str) -> None:
    assert bare_name(model) == bare
    assert entry(model, DEV) is not None and entry(model, DEV).name == bare  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("model", "vertex", "sentence"),
    [
        (
            "gemini-2.5-flash-native-audio-preview-12-2025",
            True,
            "GEMINI_MODEL=gemini-2.5-flash-native-audio-preview-12-2025 is the Developer API's"
            " name; on Vertex AI the model is called gemini-live-2.5-flash-native-audio.",
        ),
        (
            "gemini-live-2.5-flash-native-audio",
            False,
            "GEMINI_MODEL=gemini-live-2.5-flash-native-audio is Vertex AI's name; on the"
            " Developer API the model is called gemini-2.5-flash-native-audio-preview-12-2025.",
        ),
        (
            "gemini-live-2.5-flash-preview-native-audio-09-2025",
            False,
            "GEMINI_MODEL=gemini-live-2.5-flash-preview-native-audio-09-2025 is Vertex AI's"
            " name; on the Developer API the model is called"
            " gemini-2.5-flash-native-audio-preview-09-2025.",
        ),
        (
            "gemini-2.0-flash-live-001",
            False,
            "GEMINI_MODEL=gemini-2.0-flash-live-001 was shut down on 2025-12-09: use"
            " gemini-2.5-flash-native-audio-preview-12-2025 (or the default, gemini-3.8-live).",
        ),
        (
            "models/gemini-live-2.5-flash-preview",
            False,
            "GEMINI_MODEL=models/gemini-live-2.5-flash-preview was shut down on 2025-12-09: use"
            " gemini-2.5-flash-native-audio-preview-12-2025 (or the default, gemini-3.8-live).",
        ),
        (
            "gemini-live-2.5-flash-preview-native-audio",
            True,
            "GEMINI_MODEL=gemini-live-2.5-flash-preview-native-audio was shut down on"
            " 2025-10-18: use gemini-live-2.5-flash-native-audio (or the default,"
            " gemini-live-2.5-flash-native-audio).",
        ),
    ],
)
def test_certain_knowledge_is_refused_with_the_right_name(
    model: str, vertex: bool, sentence: str
) -> None:
    assert model_refusal(model, vertex=vertex) == sentence
    assert model_warning(model, vertex=vertex) is None


@pytest.mark.parametrize(
    ("model", "vertex"),
    [
        ("gemini-3.8-live", False),
        ("gemini-3.8-live", True),  # the same name on both
        ("gemini-3.8-live-extended-thinking", False),
        ("gemini-live-2.5-flash-native-audio", True),
        ("gemini-live-2.5-flash", True),
    ],
)
def test_a_known_model_on_its_backend_is_fine(model: str, vertex: bool) -> None:
    assert model_refusal(model, vertex=vertex) is None
    assert model_warning(model, vertex=vertex) is None


@pytest.mark.parametrize(
    ("model", "closest"),
    [
        (
            "gemini-2.5-flash",
            "gemini-2.5-flash-native-audio-preview-09-2025,"
            " gemini-2.5-flash-native-audio-preview-12-2025 or gemini-3.1-flash-live-preview",
        ),
        (
            "gemini-3.8-live-preview",
            "gemini-3.8-live, gemini-3.1-flash-live-preview or gemini-3.8-live-extended-thinking",
        ),
    ],
)
def test_an_unknown_model_is_a_warning_naming_the_closest(model: str, closest: str) -> None:
    assert model_refusal(model, vertex=False) is None
    assert model_warning(model, vertex=False) == (
        f"GEMINI_MODEL={model} is not a Live model this version knows on the Developer API"
        f" (closest: {closest}): if it is new, ignore this; if not, every call will fail."
        " `python -m app check --online` asks the service."
    )


def test_a_model_known_only_on_the_other_backend_without_a_counterpart_is_a_warning() -> None:
    assert model_refusal("gemini-3.8-live-extended-thinking", vertex=True) is None
    assert model_warning("gemini-3.8-live-extended-thinking", vertex=True) == (
        "GEMINI_MODEL=gemini-3.8-live-extended-thinking is known on the Developer API, not on"
        " Vertex AI: the session may be refused. Known on Vertex AI: gemini-3.8-live,"
        " gemini-live-2.5-flash-native-audio, gemini-live-2.5-flash-preview-native-audio-09-2025,"
        " gemini-live-2.5-flash."
    )
    assert model_warning("gemini-live-2.5-flash", vertex=False) == (
        "GEMINI_MODEL=gemini-live-2.5-flash is known on Vertex AI, not on the Developer API:"
        " the session may be refused. Known on the Developer API: gemini-3.8-live,"
        " gemini-3.8-live-extended-thinking, gemini-3.1-flash-live-preview,"
        " gemini-2.5-flash-native-audio-preview-12-2025,"
        " gemini-2.5-flash-native-audio-preview-09-2025."
    )


def test_google_spells_thirty_voices_capitalised() -> None:
    assert len(VOICES) == len(set(VOICES)) == 30
    assert all(v[0].isupper() and v[1:].islower() for v in VOICES)
    assert {"Puck", "Kore", "Charon", "Zephyr", "Callirrhoe", "Sulafat"} <= set(VOICES)


@pytest.mark.parametrize(
    ("voice", "spelt"), [("Kore", "Kore"), ("kore", "Kore"), ("PUCK", "Puck"), ("Koree", None)]
)
def test_a_voice_in_any_case_is_sent_as_google_spells_it(voice: str, spelt: str | None) -> None:
    assert known_voice(voice) == spelt
    assert (voice_warning(voice) is None) is (spelt is not None)


def test_an_unknown_voice_is_a_warning_naming_the_closest() -> None:
    assert voice_warning("Koree") == (
        "GEMINI_VOICE=Koree is not one of the 30 prebuilt voices this version knows (closest:"
        " Kore, Aoede or Orus): the service may refuse the session, and every call would fail."
    )
