"""How a call ends politely: the last words are heard, then the call leaves (hangs up,
or transfers). Pure: the clock is passed in.

Ending begins with a reason (the time limit, a silent caller, an operator, the
agent's ``end_call`` or ``transfer_call``, shutdown). From then on the call waits
until the model has completed a turn and every byte of it has played (Twilio's marks
say so), or until the grace period runs out, whichever comes first. Only turns the
model completed count: a reply cut short by a lost session is not the goodbye.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Phase(Enum):
    TALKING = "talking"
    ENDING = "ending"  # the last words are being said and played


@dataclass(frozen=True, slots=True)
class Departure:
    reason: str
    transfer: tuple[str, str] | None  # (target name, number), or None to hang up


class Ending:
    # Set when ending begins, and read only while ending.
    _deadline: float
    _said: bool  # the model completed a turn since ending began

    def __init__(self, grace_s: float) -> None:
        self._grace_s = grace_s
        self.phase = Phase.TALKING
        self.reason = ""
        self.transfer: tuple[str, str] | None = None

    @property
    def ending(self) -> bool:
        return self.phase is Phase.ENDING

    def begin(self, reason: str, now: float) -> bool:
        """Start ending (False if the call is ending already: the first reason stands)."""
        if self.phase is Phase.ENDING:
            return False
        self.phase, self.reason = Phase.ENDING, reason
        self._deadline = now + self._grace_s
        self._said = False
        return True

    def transfer_to(self, name: str, number: str, now: float) -> None:
        self.transfer = (name, number)
        self.begin(f"transfer to {name}", now)

    def turn_completed(self) -> None:
        """The model completed a turn (TurnComplete; not a turn cut by a lost session)."""
        self._said = True

    def due(self, now: float, *, replying: bool, audible: bool) -> Departure | None:
        """Time to leave: a turn completed since ending began and all of it was heard, or
        the grace period is over."""
        if self.phase is not Phase.ENDING:
            return None
        if (self._said and not replying and not audible) or now >= self._deadline:
            return Departure(self.reason, self.transfer)
        return None
