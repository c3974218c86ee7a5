"""A secret being rotated: the current value, and the previous one accepted beside it
until a stated time. Pure: the clock is passed in.

Rotating TWILIO_AUTH_TOKEN or OPERATOR_TOKEN used to drop every call and session signed
with the old value at once. Twilio keeps a secondary auth token for exactly this: the
new one is set as current, the old one as ``*_PREVIOUS`` until
``PREVIOUS_SECRETS_UNTIL``; requests signed, tokens issued, and cookies given with the
old one go on working until then, and are refused after.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass


@dataclass(frozen=True)
class Rotating:
    current: str
    previous: str | None = None
    previous_until: float = 0.0  # a Unix time; the previous value is refused from then on

    def values(self, now: float) -> tuple[str, ...]:
        """The values accepted at ``now``, the current one first."""
        if self.previous and now < self.previous_until:
            return (self.current, self.previous)
        return (self.current,)

    def matches(self, supplied: str, now: float) -> bool:
        """``supplied`` is an accepted value (each compared in constant time)."""
        found = False
        for value in self.values(now):
            found |= hmac.compare_digest(supplied.encode(), value.encode())
        return found
