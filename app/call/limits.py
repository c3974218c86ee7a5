"""A call's limits in time: its length, a silent caller, a stream that sends no audio.
Pure: the clock is passed in.

A silent caller (``IDLE_TIMEOUT_SECONDS``) is first asked whether they are still
there; after as long again, the call says goodbye. Silence while the agent talks, or
while its reply plays, is not idleness.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Idle(Enum):
    LISTENING = "listening"
    ASKED = "asked"  # asked whether the caller is still there


class Limit(Enum):
    TIME_UP = "call time limit reached"
    SILENT = "caller silent"  # asked, and still silent: say goodbye
    ASK = "ask if the caller is still there"


@dataclass(frozen=True)
class LimitPolicy:
    max_call_s: float = 0.0  # 0: no limit
    idle_timeout_s: float = 0.0  # 0: off
    # Twilio streams audio from the start (silence too): a stream that sends none is not
    # a call, and must not hold a Gemini session and a line for long.
    first_audio_timeout_s: float = 10.0


class CallLimits:
    def __init__(self, policy: LimitPolicy, began: float) -> None:
        self._policy = policy
        self._began = began
        self._admitted_at: float | None = None
        self._audio = False
        self._last_speech = began
        self.idle = Idle.LISTENING

    def admitted(self, now: float) -> None:
        self._admitted_at = now

    def caller_audio(self, now: float, *, speech: bool) -> None:
        self._audio = True
        if speech:
            self._last_speech = now
            self.idle = Idle.LISTENING

    def no_audio(self, now: float) -> bool:
        """Admitted, and no audio within the first-audio timeout."""
        if self._audio or self._admitted_at is None:
            return False
        return now - self._admitted_at >= self._policy.first_audio_timeout_s

    def tick(self, now: float, *, audible: bool) -> Limit | None:
        """What the time says to do now (asked only while the call is not ending)."""
        policy = self._policy
        if policy.max_call_s and now - self._began >= policy.max_call_s:
            return Limit.TIME_UP
        if not policy.idle_timeout_s:
            return None
        if audible:
            self._last_speech = now  # silence while the bot talks is not idleness
            return None
        if now - self._last_speech < policy.idle_timeout_s:
            return None
        if self.idle is Idle.ASKED:
            return Limit.SILENT
        self.idle, self._last_speech = Idle.ASKED, now
        return Limit.ASK
