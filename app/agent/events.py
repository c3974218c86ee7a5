"""The project's own events from the live agent session.

The Gemini adapter translates SDK messages into these, so the bridge never touches
SDK objects and tests can script a session without the SDK.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any, Literal

_calls_without_id = itertools.count(1)


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
    """The agent's turn is over; the model waits for the caller."""


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
    | Transcript
    | GoAway
    | ResumptionHandle
    | Usage
    | ToolCall
    | ToolCallCancelled
    | Ignored
)
