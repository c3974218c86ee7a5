"""The Live models and prebuilt voices this version knows, with their backends. Pure.

A name the table does not know gets a warning naming the closest known names, never
a refusal: new models appear faster than releases of this server. What the table
knows for certain is refused: a model Google has shut down, and a model used on the
backend that calls it by another name (the Developer API's name on Vertex AI, or the
other way round). Sources (read 2026-12): ai.google.dev's model pages and deprecation
table, Vertex AI's Live API and Gemini 3.8 Live pages, Firebase AI Logic's voice list.
``python -m app check --online`` asks the service itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from app.agent.gemini.capabilities import DEVELOPER_DEFAULT_MODEL, VERTEX_DEFAULT_MODEL
from app.spelling import closest, one_of


class Backend(StrEnum):
    DEVELOPER = "the Developer API"
    VERTEX = "Vertex AI"

    @property
    def default_model(self) -> str:
        return VERTEX_DEFAULT_MODEL if self is Backend.VERTEX else DEVELOPER_DEFAULT_MODEL


@dataclass(frozen=True)
class LiveModel:
    name: str
    backend: Backend
    status: str  # stable, preview, legacy preview, private GA, shut down
    counterpart: str | None = None  # the same model's name on the other backend
    shut_down: str | None = None  # the date it was turned off
    replacement: str | None = None  # what Google recommends instead


DEV, VERTEX = Backend.DEVELOPER, Backend.VERTEX
NATIVE_AUDIO_12 = "gemini-2.5-flash-native-audio-preview-12-2025"
LIVE_MODELS: tuple[LiveModel, ...] = (
    LiveModel("gemini-3.8-live", DEV, "stable", counterpart="gemini-3.8-live"),
    LiveModel("gemini-3.8-live-extended-thinking", DEV, "stable"),
    LiveModel("gemini-3.1-flash-live-preview", DEV, "legacy preview"),
    LiveModel(NATIVE_AUDIO_12, DEV, "preview", counterpart="gemini-live-2.5-flash-native-audio"),
    LiveModel(
        "gemini-2.5-flash-native-audio-preview-09-2025",
        DEV,
        "preview",
        counterpart="gemini-live-2.5-flash-native-audio",
    ),
    LiveModel(
        "gemini-live-2.5-flash-preview",
        DEV,
        "shut down",
        shut_down="2025-12-09",
        replacement=NATIVE_AUDIO_12,
    ),
    LiveModel(
        "gemini-2.0-flash-live-001",
        DEV,
        "shut down",
        shut_down="2025-12-09",
        replacement=NATIVE_AUDIO_12,
    ),
    LiveModel("gemini-3.8-live", VERTEX, "stable", counterpart="gemini-3.8-live"),
    LiveModel("gemini-live-2.5-flash-native-audio", VERTEX, "stable", counterpart=NATIVE_AUDIO_12),
    LiveModel(
        "gemini-live-2.5-flash-preview-native-audio-09-2025",
        VERTEX,
        "preview",
        counterpart="gemini-2.5-flash-native-audio-preview-09-2025",
    ),
    LiveModel("gemini-live-2.5-flash", VERTEX, "private GA (ask your Google account team)"),
    LiveModel(
        "gemini-live-2.5-flash-preview-native-audio",
        VERTEX,
        "shut down",
        shut_down="2025-10-18",
        replacement="gemini-live-2.5-flash-native-audio",
    ),
)

# The prebuilt voices (Chirp 3 HD), spelt as Google documents them; Puck is the default.
VOICES: tuple[str, ...] = (
    "Achernar", "Achird", "Algenib", "Algieba", "Alnilam", "Aoede", "Autonoe", "Callirrhoe",
    "Charon", "Despina", "Enceladus", "Erinome", "Fenrir", "Gacrux", "Iapetus", "Kore",
    "Laomedeia", "Leda", "Orus", "Puck", "Pulcherrima", "Rasalgethi", "Sadachbia",
    "Sadaltager", "Schedar", "Sulafat", "Umbriel", "Vindemiatrix", "Zephyr", "Zubenelgenubi",
)  # fmt: skip


def backend_of(vertex: bool) -> Backend:
    return VERTEX if vertex else DEV


def bare_name(model: str) -> str:
    """``models/x`` or ``publishers/google/models/x`` → ``x``."""
    return model.rsplit("/", 1)[-1]


def entry(model: str, backend: Backend) -> LiveModel | None:
    name = bare_name(model)
    return next((m for m in LIVE_MODELS if m.name == name and m.backend is backend), None)


def usable(backend: Backend) -> list[str]:
    """The models the table knows on ``backend`` that have not been shut down."""
    return [m.name for m in LIVE_MODELS if m.backend is backend and m.shut_down is None]


def model_refusal(model: str, *, vertex: bool) -> str | None:
    """A sentence if the table knows ``model`` cannot work on this backend: shut down, or
    the other backend's name for a model that has a name here."""
    backend = backend_of(vertex)
    known = entry(model, backend)
    if known is not None and known.shut_down is not None:
        return (
            f"GEMINI_MODEL={model} was shut down on {known.shut_down}: use {known.replacement}"
            f" (or the default, {backend.default_model})."
        )
    other = entry(model, VERTEX if backend is DEV else DEV)
    if known is None and other is not None and other.counterpart is not None:
        return (
            f"GEMINI_MODEL={model} is {other.backend}'s name; on {backend} the model is"
            f" called {other.counterpart}."
        )
    return None


def model_warning(model: str, *, vertex: bool) -> str | None:
    """A sentence for a model the table does not know on this backend (it may be new)."""
    backend = backend_of(vertex)
    if entry(model, backend) is not None or model_refusal(model, vertex=vertex) is not None:
        return None
    known = usable(backend)
    other = entry(model, VERTEX if backend is DEV else DEV)
    if other is not None:
        return (
            f"GEMINI_MODEL={model} is known on {other.backend}, not on {backend}: the"
            f" session may be refused. Known on {backend}: {', '.join(known)}."
        )
    return (
        f"GEMINI_MODEL={model} is not a Live model this version knows on {backend} (closest:"
        f" {one_of(closest(bare_name(model), known))}): if it is new, ignore this; if not,"
        " every call will fail. `python -m app check --online` asks the service."
    )


def known_voice(voice: str) -> str | None:
    """The voice as Google spells it (``kore`` → ``Kore``), or None if it is not known.
    Google documents the capitalised names only; sending those is certain to work."""
    return next((v for v in VOICES if v.casefold() == voice.casefold()), None)


def voice_warning(voice: str) -> str | None:
    if known_voice(voice) is not None:
        return None
    return (
        f"GEMINI_VOICE={voice} is not one of the {len(VOICES)} prebuilt voices this version"
        f" knows (closest: {one_of(closest(voice, VOICES))}): the service may refuse the"
        " session, and every call would fail."
    )
