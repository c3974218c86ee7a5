"""What a call leaves behind, as typed records: its start, its transcript turn by turn,
its end, and the summary the switchboard keeps. Pure data."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from app.agent.link_state import LinkStats
from app.call.outcome import Outcome

Speaker = Literal["caller", "agent"]


def heard_text(text: str, heard_ms: float, sent_ms: float) -> str:
    """The part of ``text`` the caller heard, if only ``heard_ms`` of ``sent_ms`` played
    (cut in proportion, at a word boundary)."""
    if sent_ms <= 0 or heard_ms >= sent_ms:
        return text
    keep = int(len(text) * max(0.0, heard_ms) / sent_ms)
    cut = text[:keep]
    if keep < len(text) and " " in cut:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,.;:") + ("…" if cut else "")


@dataclass(frozen=True, slots=True)
class CallStart:
    call_sid: str
    stream_sid: str
    caller: str | None
    called: str | None
    direction: str


@dataclass(slots=True)
class Turn:
    """One turn of the transcript. An agent turn carries how much of its audio was sent
    and heard; ``heard_ms`` grows as Twilio's marks come back after the turn is recorded."""

    seq: int  # numbers a call's turns from 1
    speaker: Speaker
    text: str
    agent_turn: int = 0  # the agent turn's number in the playback ledger (agents only)
    interrupted: bool = False
    sent_ms: float = 0.0
    heard_ms: float = 0.0
    # How Gemini 3.8 ended the turn: turnCompleteReason, waitingForInput, interactionStatus.
    end_reason: str = ""
    waiting_for_input: bool = False
    status: str = ""

    @property
    def heard_text(self) -> str:
        """What the caller heard of it: an interrupted turn's text is cut in proportion."""
        if not self.interrupted:
            return self.text
        return heard_text(self.text, self.heard_ms, self.sent_ms)


@dataclass(frozen=True, slots=True)
class CallEnd:
    call_sid: str
    duration_s: float
    outcome: Outcome
    reason: str
    reconnects: int
    switches: int
    tokens: int
    interruptions: int
    tool_calls: int
    dead_air: int = 0  # dead-air episodes that needed recovery


@dataclass(slots=True)
class CallStats:
    frames_in: int = 0
    caller_audio_ms: float = 0.0
    agent_audio_ms: float = 0.0
    agent_turns: int = 0
    interruptions: int = 0
    fast_barge_ins: int = 0
    malformed_frames: int = 0
    ignored_frames: int = 0
    audio_dropped_ms: float = 0.0  # caller audio beyond MAX_AUDIO_RATE_FACTOR x real time
    tokens: int = 0


@dataclass
class CallSummary:
    call_sid: str
    stream_sid: str
    outcome: Outcome
    reason: str
    duration_s: float
    stats: CallStats
    turns: list[Turn] = field(default_factory=list)
    link: LinkStats = field(default_factory=LinkStats)
