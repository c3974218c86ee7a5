"""The project's own events from the live agent session.

The Gemini adapter translates SDK messages into these, so the bridge never touches
SDK objects and tests can script a session without the SDK.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any, Literal

_calls_without_id = itertools.count(1)

IN_PROGRESS = "IN_PROGRESS"  # interactionStatus: the model still works in the background
NEED_MORE_INPUT = "NEED_MORE_INPUT"  # turnCompleteReason: it waits for the caller to go on


@dataclass(frozen=True)
class AgentAudio:
    """PCM16 LE mono at 24 kHz."""

    pcm: bytes


@dataclass(frozen=True)
class Interrupted:
    """The caller spoke over the agent: the current agent turn is abandoned."""


@dataclass(frozen=True)
class GenerationComplete:
    """The model has finished generating this turn (audio may still be playing)."""


@dataclass(frozen=True)
class TurnComplete:
    """The agent's turn is over; the model waits for the caller.

    Gemini 3.8 says more about it: ``reason`` is its ``turnCompleteReason`` (``""`` when
    none came; ``NEED_MORE_INPUT``, ``MALFORMED_FUNCTION_CALL``, a safety reason, …),
    ``waiting_for_input`` its ``waitingForInput`` (the model expects the caller to go
    on talking), ``status`` its ``interactionStatus`` (``IN_PROGRESS``: the Extended
    Thinking model is still working in the background; ``IDLE``; ``""`` when none)."""

    reason: str = ""
    waiting_for_input: bool = False
    status: str = ""


@dataclass(frozen=True)
class WaitingForInput:
    """The model generates nothing because it expects the caller to say more (a
    ``waitingForInput`` without ``turnComplete``; with one, it is on the TurnComplete)."""


@dataclass(frozen=True)
class InteractionStatus:
    """Gemini's ``interactionStatus`` without a ``turnComplete`` (with one, it is on the
    TurnComplete): ``in_progress`` while the model still works in the background."""

    in_progress: bool


@dataclass(frozen=True)
class VoiceActivity:
    """Gemini's own voice activity detection: the caller started (``start``) or stopped
    talking, ``offset_s`` into the audio stream it received (``None`` if not given)."""

    start: bool
    offset_s: float | None = None


@dataclass(frozen=True)
class HistoryTurn:
    """One turn of the conversation so far, as our own transcript has it: what a fresh
    session is seeded with when the old one cannot be resumed."""

    speaker: Literal["caller", "agent"]
    text: str


@dataclass(frozen=True)
class Transcript:
    """A piece of transcription: ``caller`` (input) or ``agent`` (output)."""

    speaker: Literal["caller", "agent"]
    text: str


@dataclass(frozen=True)
class GoAway:
    """The service will close this connection in ``time_left_s`` seconds."""

    time_left_s: float | None


@dataclass(frozen=True)
class ResumptionHandle:
    handle: str
    resumable: bool


@dataclass(frozen=True)
class Usage:
    total_tokens: int


@dataclass(frozen=True)
class ToolCall:
    """The model asks for a function call; answer with the same ``call_id`` and ``name``.

    ``call_id`` is the model's id for the call, or ``""`` when it gave none (older
    Vertex AI models): the answer then goes back with the name alone. ``key`` tells
    this call apart from every other call in the process, id or not (two calls without
    an id must not be mistaken for one); it is for bookkeeping and is never sent.
    """

    call_id: str
    name: str
    args: dict[str, Any]
    key: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if not self.key:
            # Never mistaken for a model's id: those seen are never empty and have no spaces.
            key = self.call_id or f"{self.name} (no id) #{next(_calls_without_id)}"
            object.__setattr__(self, "key", key)


@dataclass(frozen=True)
class ToolCallCancelled:
    """The model no longer wants these calls (the caller interrupted, for example)."""

    call_ids: tuple[str, ...]


@dataclass(frozen=True)
class Ignored:
    """A server message, or part of one, that could not be read and was skipped; the
    session goes on. ``keys``: the message's top-level keys concerned; ``why``: the
    kind of problem (with ``keys``, what makes a kind new, worth one log line);
    ``detail``: the specifics, if any."""

    keys: tuple[str, ...]
    why: str
    detail: str = ""


AgentEvent = (
    AgentAudio
    | Interrupted
    | GenerationComplete
    | TurnComplete
    | WaitingForInput
    | InteractionStatus
    | VoiceActivity
    | Transcript
    | GoAway
    | ResumptionHandle
    | Usage
    | ToolCall
    | ToolCallCancelled
    | Ignored
)
