"""The registry: stream tokens, capacity per kind of call, who holds a call, what the
<Connect action> answers (once), and replays refused; exact answers. Each test runs on
the one-process registry and on the fleet's, against a real redis-server (the same
behaviour), except where a test says it is one process's."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from redis.asyncio import Redis

from app.call.controls import ACCEPTED, Control, Reply, Say
from app.errors import CallNotHere, CallRefused
from app.registry.base import ENDED, IN_PROGRESS, NO_ROOM, Apologise, Dial, Load, busy
from app.registry.memory import MemoryRegistry, MemoryThrottle, bounded_put
from app.registry.redis import RedisRegistry
from app.registry.sealed import Seal
from app.registry.throttle import FailureThrottle
from app.telephony.stream_tokens import StreamTokens
from tests.support.stores import prefix

A, B, C = ("CA" + c * 32 for c in "abc")
SOFT_A, SOFT_B = ("SP" + c * 32 for c in "de")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def registry(max_calls: int = 2, softphone: int = 1, limit: int = 100) -> MemoryRegistry:
    tokens = StreamTokens(b"k" * 32, ttl_s=60)
    return MemoryRegistry(tokens, max_calls, softphone, "p1", Clock(), limit)


Registry = MemoryRegistry | RedisRegistry
Make = Callable[..., Awaitable[Registry]]


@pytest.fixture(params=["memory", "redis"])
async def make(request: pytest.FixtureRequest) -> AsyncIterator[Make]:
    """Builds the registry under test: in memory, or in a real Redis (a prefix of its own)."""
    made: list[RedisRegistry] = []

    async def build(max_calls: int = 2, softphone: int = 1, limit: int = 100) -> Registry:
        if request.param == "memory":
            return registry(max_calls, softphone, limit)
        url = request.getfixturevalue("redis_server_url")
        tokens = StreamTokens(b"k" * 32, ttl_s=60)
        reg = RedisRegistry(
            Redis.from_url(url),
            tokens,
            Seal(b"s" * 32),
            max_calls,
            softphone,
            "p1",
            prefix=prefix(),
            limit=limit,
            clock=Clock(),
        )
        await reg.client.set(reg.keys.lease("p1"), "1")  # alive, as open() makes it
        made.append(reg)
        return reg

    yield build
    for reg in made:
        await reg.client.aclose()


async def connected(reg: Registry, call_sid: str) -> None:
    assert await reg.admit(call_sid, await reg.offer(call_sid)) is None


async def test_a_token_admits_its_call_once_and_the_call_is_held_here(make: Make) -> None:
    reg = await make()
    token = await reg.offer(A)
    assert await reg.locate(A) is None
    assert await reg.admit(A, token) is None
    assert await reg.locate(A) == "p1" and reg.process == "p1"
    assert await reg.admit(A, token) == "stream token already used"
    assert await reg.admit(B, token) == "stream token does not match this call"
    assert await reg.admit(B, "") == "malformed stream token"


async def test_capacity_counts_calls_in_progress_and_tokens_issued_per_kind(make: Make) -> None:
    reg = await make(max_calls=2, softphone=1)
    await connected(reg, A)
    await reg.offer(B)  # issued, not used: it holds a line
    assert await reg.load() == Load(phone=2, softphone=0)
    with pytest.raises(CallRefused) as refused:
        await reg.offer(C)
    assert (
        refused.value.reason
        == busy(2)
        == ("all 2 lines are in use (calls in progress or connecting)")
    )
    assert not refused.value.replayed
    await reg.offer(SOFT_A)  # the softphone has lines of its own
    with pytest.raises(CallRefused, match=r"all 1 lines"):
        await reg.offer(SOFT_B)
    assert await reg.load() == Load(phone=2, softphone=1)


async def test_a_new_token_for_the_same_call_takes_no_second_line(make: Make) -> None:
    reg = await make(max_calls=1)
    first = await reg.offer(A)
    second = await reg.offer(A)  # a replayed webhook before the stream started
    assert await reg.load() == Load(1, 0)
    assert await reg.admit(A, first) == "stream token superseded by a newer one for this call"
    assert await reg.admit(A, second) is None


async def test_a_start_beyond_the_limit_is_refused_even_with_a_good_token(make: Make) -> None:
    reg = await make(max_calls=1)
    token = await reg.offer(A)
    await connected(reg, SOFT_A)  # another kind: no effect
    reg.max_calls = 0  # the limit lowered after the token was issued
    assert await reg.admit(A, token) == NO_ROOM == "no capacity"
    assert await reg.locate(A) is None


async def test_replays_of_a_call_in_progress_or_over_are_refused_as_replays(make: Make) -> None:
    reg = await make()
    await connected(reg, A)
    with pytest.raises(CallRefused) as during:
        await reg.offer(A)
    assert (during.value.reason, during.value.replayed) == (IN_PROGRESS, True)
    await reg.release(A, None)
    assert await reg.locate(A) is None
    with pytest.raises(CallRefused) as after:
        await reg.offer(A)
    assert (after.value.reason, after.value.replayed) == (ENDED, True)
    assert await reg.load() == Load(0, 0)


async def test_a_token_issued_before_the_call_ended_cannot_start_it_again(make: Make) -> None:
    reg = await make()
    spare = await reg.offer(A)
    token = await reg.offer(A)
    assert await reg.admit(A, token) is None
    await reg.release(A, None)
    assert await reg.admit(A, spare) in (
        "stream token superseded by a newer one for this call",
        "that call is already in progress or has ended",
    )


async def test_what_the_connect_action_answers_is_given_once(make: Make) -> None:
    reg = await make()
    await connected(reg, A)
    await reg.release(A, Apologise("agent failed"))
    assert await reg.after_stream(A) == Apologise("agent failed")
    assert await reg.after_stream(A) is None
    assert await reg.after_stream(B) is None


async def test_a_pending_transfer_outranks_the_apology_and_rest_success_clears_it(
    make: Make,
) -> None:
    reg = await make()
    await connected(reg, A)
    await reg.transferring(A, "+15551230001")
    await reg.release(A, Apologise("agent failed"))
    assert await reg.after_stream(A) == Dial("+15551230001")
    await connected(reg, B)
    await reg.transferring(B, "+15551230002")
    await reg.transferring(B, None)  # Twilio's REST API connected it
    await reg.release(B, None)
    assert await reg.after_stream(B) is None


async def test_a_transfer_for_a_call_not_held_is_not_remembered(make: Make) -> None:
    reg = await make()
    await reg.transferring(A, "+15551230001")
    await connected(reg, A)
    await reg.release(A, None)
    assert await reg.after_stream(A) is None


async def test_twilios_completed_forgets_the_answer_and_a_release_of_nothing_is_nothing(
    make: Make,
) -> None:
    reg = await make()
    await connected(reg, A)
    await reg.release(A, Apologise("x"))
    await reg.completed(A)
    assert await reg.after_stream(A) is None
    await reg.release(C, Apologise("never held"))
    assert await reg.after_stream(C) is None
    with pytest.raises(CallRefused):
        await reg.offer(A)  # completed does not make a replay welcome


async def test_memory_is_bounded_oldest_first(make: Make) -> None:
    reg = await make(max_calls=10, limit=2)
    for sid in (A, B, C):
        await connected(reg, sid)
        await reg.release(sid, Apologise(sid))
    assert await reg.after_stream(A) is None  # forgotten first
    assert await reg.after_stream(B) == Apologise(B)
    assert await reg.after_stream(C) == Apologise(C)
    await reg.offer(A)  # its end forgotten too (the call records still remember it)
    with pytest.raises(CallRefused):
        await reg.offer(B)


async def test_a_control_reaches_the_call_through_deliver_or_is_not_here() -> None:
    """One process's: a control goes straight to this process's calls (the fleet's
    registry asks who holds the call first: tests/unit/registry/test_redis.py)."""
    reg = registry()
    delivered: list[tuple[str, Control]] = []

    async def deliver(call_sid: str, control: Control) -> Reply | None:
        delivered.append((call_sid, control))
        return ACCEPTED if call_sid == A else None

    with pytest.raises(CallNotHere):
        await reg.control(A, Say("x"))  # not open: nowhere to deliver
    await reg.open(deliver)
    assert await reg.control(A, Say("hi")) == ACCEPTED
    with pytest.raises(CallNotHere) as missing:
        await reg.control(B, Say("hi"))
    assert missing.value.call_sid == B
    assert delivered == [(A, Say("hi")), (B, Say("hi"))]
    await reg.aclose()
    with pytest.raises(CallNotHere):
        await reg.control(A, Say("x"))


async def test_tokens_expire_and_free_their_line(make: Make) -> None:
    reg = await make(max_calls=1)
    clock = reg.clock
    assert isinstance(clock, Clock)  # the fleet's compares token expiries with it too
    await reg.offer(A)
    clock.now += 61
    assert await reg.load() == Load(0, 0)
    await reg.offer(B)


async def test_what_was_never_there_is_forgotten_quietly() -> None:
    reg = registry()
    await reg.completed(A)  # never seen
    await reg.transferring(A, None)  # no transfer to forget
    assert await reg.after_stream(A) is None


def test_a_key_put_again_is_the_newest_and_the_oldest_goes_first() -> None:
    memory: OrderedDict[str, int] = OrderedDict()
    for key, value in (("a", 1), ("b", 2), ("a", 3), ("c", 4)):
        bounded_put(memory, key, value, limit=2)
    assert list(memory.items()) == [("a", 3), ("c", 4)]


async def test_the_throttle_of_one_process() -> None:
    clock = Clock()
    throttle = MemoryThrottle(FailureThrottle(rate=1.0, burst=2), clock)
    assert not await throttle.blocked("192.0.2.1")
    assert not await throttle.failed("192.0.2.1")
    assert await throttle.failed("192.0.2.1")  # the second of two tries
    assert await throttle.blocked("192.0.2.1") and not await throttle.blocked("192.0.2.2")
    clock.now += 1.0
    assert not await throttle.blocked("192.0.2.1")  # earned a try back
