"""The token bucket: a full burst at first, one token per allowed event, a refill at
``rate`` per second up to ``burst``. Exact figures (binary fractions), plus random
event times from hypothesis."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.call.budget import TokenBucket


def test_a_new_bucket_is_full_whenever_first_asked() -> None:
    bucket = TokenBucket(rate=2.0, burst=3.0)
    assert bucket.level(100.0) == 3.0  # not refilled (or drained) for the 100 s before
    assert bucket.level(100.0) == 3.0


def test_a_burst_is_allowed_then_refused() -> None:
    bucket = TokenBucket(rate=2.0, burst=3.0)
    assert [bucket.allow(10.0) for _ in range(4)] == [True, True, True, False]
    assert bucket.level(10.0) == 0.0  # drained, not refilled as if new


def test_each_allowed_event_takes_exactly_one_token() -> None:
    bucket = TokenBucket(rate=1.0, burst=4.0)
    assert bucket.allow(0.0)
    assert bucket.level(0.0) == 3.0
    assert bucket.allow(0.0)
    assert bucket.level(0.0) == 2.0


def test_a_refused_event_takes_nothing() -> None:
    bucket = TokenBucket(rate=2.0, burst=1.0)
    assert bucket.allow(0.0)
    assert not bucket.allow(0.25)
    assert bucket.level(0.25) == 0.5  # the half token refilled is kept, not reset
    assert bucket.allow(0.5)  # exactly one token again


@pytest.mark.parametrize(
    ("rate", "wait", "level"),
    [
        (2.0, 0.25, 0.5),
        (2.0, 0.5, 1.0),
        (4.0, 0.5, 2.0),
        (0.5, 2.0, 1.0),
        (2.0, 10.0, 3.0),  # never above the burst
    ],
)
def test_the_bucket_refills_at_its_rate_up_to_the_burst(
    rate: float, wait: float, level: float
) -> None:
    bucket = TokenBucket(rate=rate, burst=3.0)
    for _ in range(3):
        assert bucket.allow(7.0)
    assert bucket.level(7.0 + wait) == level


def test_the_refill_counts_only_the_time_since_last_asked() -> None:
    bucket = TokenBucket(rate=1.0, burst=8.0)
    for _ in range(8):
        bucket.allow(0.0)
    assert bucket.level(1.0) == 1.0
    assert bucket.level(2.0) == 2.0  # one second more, not two
    assert bucket.level(2.0) == 2.0


def test_exactly_one_token_is_enough() -> None:
    bucket = TokenBucket(rate=1.0, burst=1.0)
    assert bucket.allow(0.0)
    assert not bucket.allow(0.5)
    assert bucket.allow(1.0)
    assert bucket.level(1.0) == 0.0


@given(
    st.floats(min_value=0.5, max_value=50.0),
    st.floats(min_value=1.0, max_value=20.0),
    st.lists(st.floats(min_value=0.0, max_value=5.0), max_size=60),
)
def test_never_more_than_the_burst_plus_the_refill(
    rate: float, burst: float, gaps: list[float]
) -> None:
    bucket = TokenBucket(rate=rate, burst=burst)
    now, allowed = 0.0, 0
    for gap in gaps:
        now += gap
        allowed += bucket.allow(now)
        assert 0.0 <= bucket.level(now) <= burst
    assert allowed <= burst + rate * now + 1e-9


@given(st.floats(min_value=0.5, max_value=50.0), st.integers(min_value=1, max_value=30))
def test_a_full_bucket_allows_its_whole_burst_at_once(rate: float, burst: int) -> None:
    bucket = TokenBucket(rate=rate, burst=float(burst))
    assert sum(bucket.allow(3.0) for _ in range(burst + 5)) == burst


def test_a_cost_spends_that_many_tokens_or_none() -> None:
    bucket = TokenBucket(rate=10.0, burst=100.0)
    assert bucket.allow(0.0, cost=60.0) is True
    assert bucket.level(0.0) == 40.0
    assert bucket.allow(0.0, cost=40.5) is False  # not enough: nothing spent
    assert bucket.level(0.0) == 40.0
    assert bucket.allow(0.0, cost=40.0) is True and bucket.level(0.0) == 0.0
    assert bucket.allow(1.0, cost=10.0) is True  # refilled at the rate
