"""What each Gemini Live model family accepts, so bad options fail at startup."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModelCapabilities:
    family: str
    thinking: bool
    affective_dialog: bool
    proactive_audio: bool
    proactive_audio_can_be_disabled: bool
    thinking_levels: tuple[str, ...] = ()  # THINKING_LEVEL values it takes (none: refused)
    async_tools_only: bool = False  # every function is declared NON_BLOCKING


EXTENDED_THINKING = ModelCapabilities(
    family="Gemini 3.8 Live Extended Thinking",
    thinking=False,  # no thinking budget: the level says how deep it reasons
    affective_dialog=False,
    proactive_audio=True,
    proactive_audio_can_be_disabled=False,  # always on, as on every Gemini 3 Live model
    thinking_levels=("low", "medium", "high"),
    async_tools_only=True,  # function calling is asynchronous only
)
FLASH_LIVE_3_1 = ModelCapabilities(
    family="Gemini 3.1 Flash Live (preview)",
    thinking=False,  # no thinking budget: a level, minimal by default
    affective_dialog=False,
    proactive_audio=False,  # not on this preview
    proactive_audio_can_be_disabled=True,
    thinking_levels=("minimal", "low", "medium", "high"),
)
GEMINI_3 = ModelCapabilities(
    family="Gemini 3 Live",
    thinking=False,  # omit thinking_config
    affective_dialog=False,  # removed
    proactive_audio=True,
    proactive_audio_can_be_disabled=False,  # always on; false is an error
)
NATIVE_AUDIO_2_5 = ModelCapabilities(
    family="Gemini 2.5 native audio",
    thinking=True,
    affective_dialog=True,
    proactive_audio=True,
    proactive_audio_can_be_disabled=True,
)
HALF_CASCADE = ModelCapabilities(
    family="Gemini Live (half-cascade)",
    thinking=False,
    affective_dialog=False,
    proactive_audio=False,
    proactive_audio_can_be_disabled=True,
)


DEVELOPER_DEFAULT_MODEL = "gemini-3.8-live"
VERTEX_DEFAULT_MODEL = "gemini-live-2.5-flash-native-audio"


def capabilities(model: str) -> ModelCapabilities | None:
    """The model's family, or ``None`` for a model this table does not know."""
    name = model.removeprefix("models/")
    if name.startswith("gemini-3.8-live-extended-thinking"):
        return EXTENDED_THINKING
    if name.startswith("gemini-3.1-flash-live"):
        return FLASH_LIVE_3_1
    if name.startswith("gemini-3"):
        return GEMINI_3
    if "native-audio" in name:
        return NATIVE_AUDIO_2_5
    if name.startswith(("gemini-2.0", "gemini-live-2.5-flash", "gemini-2.5-flash-live")):
        return HALF_CASCADE
    return None


def option_problems(
    model: str,
    *,
    thinking_budget: int | None,
    affective_dialog: bool | None,
    proactive_audio: bool | None,
    thinking_level: str | None = None,
) -> list[str]:
    """Sentences naming each option the model does not support (empty if all fine)."""
    caps = capabilities(model)
    if caps is None:
        return []
    problems = []
    where = f"model {model} ({caps.family})"
    if thinking_budget is not None and not caps.thinking:
        instead = " (set THINKING_LEVEL instead)" if caps.thinking_levels else ""
        problems.append(f"THINKING_BUDGET is not supported by {where}: unset it{instead}.")
    if thinking_level is not None and thinking_level not in caps.thinking_levels:
        if caps.thinking_levels:
            problems.append(
                f"THINKING_LEVEL={thinking_level} is not a level {where} takes: use one of"
                f" {', '.join(caps.thinking_levels)}."
            )
        else:
            problems.append(
                f"THINKING_LEVEL is not supported by {where}: unset it (it is for"
                " gemini-3.8-live-extended-thinking and gemini-3.1-flash-live-preview)."
            )
    if affective_dialog and not caps.affective_dialog:
        problems.append(f"AFFECTIVE_DIALOG is not supported by {where}: unset it.")
    if proactive_audio and not caps.proactive_audio:
        problems.append(f"PROACTIVE_AUDIO is not supported by {where}: unset it.")
    if proactive_audio is False and not caps.proactive_audio_can_be_disabled:
        problems.append(
            f"PROACTIVE_AUDIO=false is not allowed for {where}: proactive audio is always on"
            " there; unset it."
        )
    return problems
