"""Repeated wrong tokens from one address, answered with 429. Pure: the clock is passed in."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

from app.call.budget import TokenBucket


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
