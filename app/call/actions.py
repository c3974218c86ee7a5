"""What the call's state machines ask the driver to do (actions), and what they report
to the call's sinks (records, recordings, metrics). Plain data, no behaviour."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum

from app.agent.events import HistoryTurn, ToolCall
from app.call.outcome import Outcome
from app.call.record import CallEnd, CallStart, Turn
from app.telephony import wire

# actions: the driver performs them, in order


@dataclass(frozen=True, slots=True)
class ToCaller:
    """A text frame for the media socket (media, mark, clear, or a softphone extra)."""

    text: str
    answers_interrupt: bool = False  # the `clear` for Gemini's `interrupted`: timed


@dataclass(frozen=True, slots=True)
class SendAudio:
    """Caller audio for the agent: PCM16 LE mono at 16 kHz."""

    pcm16k: bytes


@dataclass(frozen=True, slots=True)
class SendText:
    """An instruction for the agent (a greeting, a goodbye, a key press, an operator's)."""

    text: str


@dataclass(frozen=True, slots=True)
class RenewSession:
    """Give the silent session up for a new one: resumed with the latest handle if
    ``resume``, else (or if resuming fails) a fresh one told ``history``."""

    history: tuple[HistoryTurn, ...]
    resume: bool


@dataclass(frozen=True, slots=True)
class Admit:
    """Ask the switchboard whether this start may become a call (stream token, room)."""

    start: wire.Start


@dataclass(frozen=True, slots=True)
class StartTool:
    call: ToolCall


@dataclass(frozen=True, slots=True)
class CancelTools:
    call_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Log:
    """A line for the call's log (which prefixes it with the call's ids)."""

    level: int
    message: str
    args: tuple[object, ...] = ()


def info(message: str, *args: object) -> Log:
    return Log(logging.INFO, message, args)


def warning(message: str, *args: object) -> Log:
    return Log(logging.WARNING, message, args)


@dataclass(frozen=True, slots=True)
class Transfer:
    """Connect the caller to ``number`` (the goodbye, the notice, has been heard)."""

    name: str
    number: str


@dataclass(frozen=True, slots=True)
class Hangup:
    """End the call now: close the stream with the outcome's code."""

    outcome: Outcome
    reason: str


# reports: for the call's sinks (records, recordings, metrics); none may hurt the call


@dataclass(frozen=True, slots=True)
class CallBegan:
    start: CallStart


@dataclass(frozen=True, slots=True)
class CallerAudio:
    ulaw: bytes


@dataclass(frozen=True, slots=True)
class AgentAudioSent:
    """Agent audio handed to Twilio, which plays it after what it already holds."""

    ulaw: bytes


@dataclass(frozen=True, slots=True)
class ThinkingAudioSent:
    """The soft sound played while the agent works, handed to Twilio: heard by the
    caller like agent audio, but never the agent's speech (no turn, no ledger)."""

    ulaw: bytes


@dataclass(frozen=True, slots=True)
class PlaybackCleared:
    """Twilio was told to drop what it holds: the caller hears none of it."""


@dataclass(frozen=True, slots=True)
class TurnRecorded:
    turn: Turn


@dataclass(frozen=True, slots=True)
class TurnHeard:
    """An agent turn recorded while still playing: how much of it was heard in the end."""

    turn: Turn


class Measure(StrEnum):
    TURN_LATENCY = "turn_latency"  # caller speech -> first agent audio sent (seconds)
    INTERRUPT_TO_CLEAR = "interrupt_to_clear"  # `interrupted` received -> `clear` sent
    TOKENS = "tokens"  # tokens the agent reported using


@dataclass(frozen=True, slots=True)
class Measured:
    measure: Measure
    value: float


@dataclass(frozen=True, slots=True)
class SessionSwitched:
    reason: str  # "go_away", "reconnect" or "renewal"


@dataclass(frozen=True, slots=True)
class DeadAirStep:
    """A recovery step taken after ``silent_s`` of dead air (``cause``: why the agent owed
    the caller audio; ``step``: nudge, resume, seed or apology)."""

    cause: str
    step: str
    silent_s: float


@dataclass(frozen=True, slots=True)
class DeadAirRecovered:
    """Agent audio came back after ``step``; the caller heard ``silent_s`` of dead air."""

    cause: str
    step: str
    silent_s: float


@dataclass(frozen=True, slots=True)
class CallEnded:
    end: CallEnd
    admitted: bool  # a call that was admitted (and reported as begun)


Report = (
    CallBegan
    | CallerAudio
    | AgentAudioSent
    | ThinkingAudioSent
    | PlaybackCleared
    | TurnRecorded
    | TurnHeard
    | Measured
    | SessionSwitched
    | DeadAirStep
    | DeadAirRecovered
    | CallEnded
)
REPORTS = (
    CallBegan,
    CallerAudio,
    AgentAudioSent,
    ThinkingAudioSent,
    PlaybackCleared,
    TurnRecorded,
    TurnHeard,
    Measured,
    SessionSwitched,
    DeadAirStep,
    DeadAirRecovered,
    CallEnded,
)
Action = (
    ToCaller
    | SendAudio
    | SendText
    | RenewSession
    | Admit
    | StartTool
    | CancelTools
    | Log
    | Transfer
    | Hangup
) | Report
