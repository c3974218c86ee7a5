"""Token buckets for message floods and repeated failures. Pure: the clock is passed in."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field


@dataclass
class TokenBucket:
    """Allows ``rate`` events per second on average, in bursts of up to ``burst``."""

    rate: float
    burst: float
    _tokens: float = -1.0
    _last: float = 0.0

    def allow(self, now: float) -> bool:
        if self.level(now) < 1:
            return False
        self._tokens -= 1
        return True

    def level(self, now: float) -> float:
        """The tokens in the bucket at ``now`` (refilled for the time since last asked)."""
        if self._tokens < 0:
            self._tokens, self._last = self.burst, now
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now
        return self._tokens


@dataclass
class FailureThrottle:
    """Repeated failures (wrong tokens) from one address: after ``burst`` failures, at
    most ``rate`` a second are heard; beyond that the address is turned away until it
    has earned a try back. Memory is bounded: the least recently seen addresses beyond
    ``max_addresses`` are forgotten."""

    rate: float = 1 / 6  # one more try every six seconds
    burst: float = 10
    max_addresses: int = 10_000
    _buckets: OrderedDict[str, TokenBucket] = field(default_factory=OrderedDict)

    def blocked(self, address: str, now: float) -> bool:
        """Is ``address`` turned away now? (Asking does not spend a try.)"""
        bucket = self._buckets.get(address)
        if bucket is None:
            return False
        return bucket.level(now) < 1

    def failed(self, address: str, now: float) -> bool:
        """Count a failure; True when this one turned the address away."""
        bucket = self._buckets.pop(address, None) or TokenBucket(self.rate, self.burst)
        self._buckets[address] = bucket
        while len(self._buckets) > self.max_addresses:
            self._buckets.popitem(last=False)
        bucket.allow(now)
        return bucket.level(now) < 1
