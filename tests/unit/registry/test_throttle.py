"""The failure throttle: ``burst`` wrong tokens are heard, then one every 1/``rate``
seconds, and memory is bounded by forgetting the least recently seen addresses."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.registry.throttle import FailureThrottle

A, B, C = "192.0.2.1", "192.0.2.2", "192.0.2.3"


def test_the_defaults_are_ten_tries_then_one_every_six_seconds() -> None:
    throttle = FailureThrottle()
    assert (throttle.rate, throttle.burst, throttle.max_addresses) == (1 / 6, 10, 10_000)
    assert [throttle.failed(A, now=0.0) for _ in range(10)] == [False] * 9 + [True]
    assert throttle.blocked(A, now=5.9) is True
    assert throttle.blocked(A, now=6.1) is False


def test_an_address_never_seen_is_not_blocked() -> None:
    throttle = FailureThrottle(rate=1.0, burst=1)
    assert throttle.blocked(A, now=0.0) is False
    assert throttle.failed(A, now=0.0) is True
    assert throttle.blocked(B, now=0.0) is False


@pytest.mark.parametrize("burst", [1, 2, 3, 5])
def test_the_failure_that_spends_the_last_try_is_the_one_that_blocks(burst: int) -> None:
    throttle = FailureThrottle(rate=1.0, burst=burst)
    for _ in range(burst - 1):
        assert throttle.failed(A, now=0.0) is False
        assert throttle.blocked(A, now=0.0) is False
    assert throttle.failed(A, now=0.0) is True
    assert throttle.blocked(A, now=0.0) is True
    assert throttle.failed(A, now=0.0) is True  # and stays so while it keeps failing


def test_asking_does_not_spend_a_try() -> None:
    throttle = FailureThrottle(rate=1.0, burst=2)
    assert throttle.failed(A, now=0.0) is False
    for _ in range(5):
        assert throttle.blocked(A, now=0.0) is False
    assert throttle.failed(A, now=0.0) is True


def test_a_blocked_address_earns_one_try_back_at_the_rate() -> None:
    throttle = FailureThrottle(rate=0.5, burst=1)
    assert throttle.failed(A, now=100.0) is True
    assert throttle.blocked(A, now=101.0) is True  # half a try
    assert throttle.blocked(A, now=101.99) is True
    assert throttle.blocked(A, now=102.0) is False  # exactly one: heard again
    assert throttle.failed(A, now=102.0) is True  # spent at once
    assert throttle.blocked(A, now=102.0) is True


def test_the_tries_earned_back_never_exceed_the_burst() -> None:
    throttle = FailureThrottle(rate=1.0, burst=2)
    assert throttle.failed(A, now=0.0) is False
    assert throttle.failed(A, now=1000.0) is False  # refilled to 2, not to 1000
    assert throttle.failed(A, now=1000.0) is True


def test_addresses_are_throttled_apart() -> None:
    throttle = FailureThrottle(rate=1.0, burst=1)
    assert throttle.failed(A, now=0.0) is True
    assert throttle.blocked(B, now=0.0) is False
    assert throttle.failed(B, now=0.0) is True
    assert (throttle.blocked(A, now=0.0), throttle.blocked(B, now=0.0)) == (True, True)


def test_beyond_max_addresses_the_oldest_is_forgotten() -> None:
    throttle = FailureThrottle(rate=1.0, burst=1, max_addresses=2)
    for address in (A, B):
        assert throttle.failed(address, now=0.0) is True
    assert [throttle.blocked(x, now=0.0) for x in (A, B)] == [True, True]
    assert throttle.failed(C, now=0.0) is True
    assert [throttle.blocked(x, now=0.0) for x in (A, B, C)] == [False, True, True]


def test_a_failure_makes_an_address_the_most_recently_seen() -> None:
    throttle = FailureThrottle(rate=1.0, burst=2, max_addresses=2)
    throttle.failed(A, now=0.0)
    throttle.failed(B, now=0.0)
    assert throttle.failed(A, now=0.0) is True  # A's second failure: A is the newest
    assert throttle.failed(C, now=0.0) is False  # so B is forgotten, not A
    assert throttle.blocked(A, now=0.0) is True
    assert throttle.failed(B, now=0.0) is False  # B starts afresh, with two tries


def test_max_addresses_of_one_keeps_exactly_the_last() -> None:
    throttle = FailureThrottle(rate=1.0, burst=1, max_addresses=1)
    assert throttle.failed(A, now=0.0) is True
    assert throttle.blocked(A, now=0.0) is True
    assert throttle.failed(B, now=0.0) is True
    assert (throttle.blocked(A, now=0.0), throttle.blocked(B, now=0.0)) == (False, True)


@given(
    burst=st.integers(min_value=1, max_value=6),
    rate=st.sampled_from([0.25, 0.5, 1.0, 2.0]),
    gaps=st.lists(st.sampled_from([0.0, 0.25, 0.5, 1.0, 3.0]), max_size=30),
)
def test_a_failure_blocks_exactly_when_fewer_than_one_try_is_left(
    burst: int, rate: float, gaps: list[float]
) -> None:
    """A model of the bucket: ``tries`` refills at ``rate`` up to ``burst``; each
    failure spends one if there is one; blocked when less than one is left."""
    throttle = FailureThrottle(rate=rate, burst=burst)
    tries, now = float(burst), 0.0
    for gap in gaps:
        now += gap
        tries = min(burst, tries + gap * rate)
        if tries >= 1:
            tries -= 1
        assert throttle.failed(A, now) is (tries < 1)
        assert throttle.blocked(A, now) is (tries < 1)
