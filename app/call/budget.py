"""A token bucket: a rate with bursts, for message floods. Pure: the clock is passed in."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class TokenBucket:
    """Allows ``rate`` events per second on average, in bursts of up to ``burst``."""

    rate: float
    burst: float
    _tokens: float = -1.0
    _last: float = 0.0

    def allow(self, now: float, cost: float = 1.0) -> bool:
        """Spend ``cost`` tokens if the bucket holds that many (else spend nothing)."""
        if self.level(now) < cost:
            return False
        self._tokens -= cost
        return True

    def level(self, now: float) -> float:
        """The tokens in the bucket at ``now`` (refilled for the time since last asked)."""
        if self._tokens < 0:
            self._tokens, self._last = self.burst, now
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now
        return self._tokens
