"""The fleet's registry, against a real redis-server: what only a fleet has. Controls
between processes (202 once the holder took it, 404 when nobody holds the call, a
clear timeout), forged and replayed messages refused, orphans of a dead process,
the shared throttle, and Redis stopped and restarted under it. (What it shares with
the one-process registry is tested on both in test_memory.py.)"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest
import trustme
from redis.asyncio import Redis

from app.call.controls import ACCEPTED, ENDED, Control, EndCall, Reply, Say, TransferTo
from app.errors import CallNotHere, CallRefused, ControlTimeout, RegistryUnavailable
from app.registry.base import Apologise, Dial
from app.registry.redis import UNREACHABLE, RedisRegistry, RedisThrottle, orphan_reason
from app.registry.sealed import Seal
from app.registry.throttle import FailureThrottle
from app.telephony.stream_tokens import StreamTokens
from tests.support.server import free_port
from tests.support.stores import RedisServer, prefix, redis_available

A, B = "CA" + "a" * 32, "CA" + "b" * 32
SECRET = b"s" * 32
Make = Callable[..., Awaitable[RedisRegistry]]


@pytest.fixture
async def fleet(redis_server_url: str) -> AsyncIterator[Make]:
    """Processes of one deployment (same prefix and secrets), opened; closed after."""
    shared = prefix()
    made: list[RedisRegistry] = []

    async def make(
        name: str,
        deliver: Callable[[str, Control], Awaitable[Reply | None]] | None = None,
        *,
        url: str = redis_server_url,
        secret: bytes = SECRET,
        **options: object,
    ) -> RedisRegistry:
        reg = RedisRegistry(
            Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1),
            StreamTokens(b"k" * 32, ttl_s=60),
            Seal(secret),
            max_calls=2,
            process=name,
            prefix=shared,
            **options,  # type: ignore[arg-type]
        )

        async def nowhere(call_sid: str, control: Control) -> Reply | None:
            return None

        await reg.open(deliver or nowhere)
        made.append(reg)
        return reg

    yield make
    for reg in made:
        await reg.aclose()


async def held(reg: RedisRegistry, call_sid: str) -> None:
    assert await reg.admit(call_sid, await reg.offer(call_sid)) is None


async def test_a_control_reaches_the_process_holding_the_call(fleet: Make) -> None:
    got: list[tuple[str, Control]] = []

    async def deliver(call_sid: str, control: Control) -> Reply | None:
        got.append((call_sid, control))
        return ACCEPTED if call_sid == A else (ENDED if call_sid == B else None)

    holder = await fleet("p1", deliver)
    other = await fleet("p2")
    await held(holder, A)
    await held(holder, B)
    assert await other.locate(A) == "p1"
    assert await other.control(A, Say("hello")) is ACCEPTED
    assert await other.control(A, TransferTo("sales")) is ACCEPTED
    assert await other.control(B, EndCall("op")) is ENDED  # the very constant, decoded
    assert got == [(A, Say("hello")), (A, TransferTo("sales")), (B, EndCall("op"))]
    with pytest.raises(CallNotHere):
        await other.control("CA" + "c" * 32, Say("x"))  # nobody holds it
    assert await holder.control(A, Say("mine")) is ACCEPTED  # the holder itself: no Redis trip


async def test_a_holder_that_does_not_answer_gives_a_clear_timeout(fleet: Make) -> None:
    async def stuck(call_sid: str, control: Control) -> Reply | None:
        await asyncio.sleep(30)
        return ACCEPTED

    holder = await fleet("p1", stuck)
    other = await fleet("p2", control_timeout_s=0.5)
    await held(holder, A)
    with pytest.raises(ControlTimeout) as timeout:
        await other.control(A, Say("x"))
    assert "did not answer within 0.5 s" in str(timeout.value)
    assert timeout.value.process == "p1"


async def test_forged_and_replayed_controls_are_refused(fleet: Make) -> None:
    got: list[Control] = []

    async def deliver(call_sid: str, control: Control) -> Reply | None:
        got.append(control)
        return ACCEPTED

    holder = await fleet("p1", deliver)
    other = await fleet("p2")
    await held(holder, A)
    channel = holder.keys.controls("p1")
    # Someone with Redis but not the deployment's secret: a control sealed with another key.
    forged = Seal(b"x" * 32).seal(
        "control",
        {"id": "1", "call": A, "to": "p1", "from": "p2", "control": {"kind": "end", "reason": "x"}},
        now=holder.clock(),
        ttl_s=5,
    )
    # A real control, captured from the channel and sent again.
    spy = holder.client.pubsub()
    await spy.subscribe(channel)
    assert await other.control(A, Say("once")) is ACCEPTED
    captured = None
    while captured is None:
        message = await spy.get_message(ignore_subscribe_messages=True, timeout=2)
        captured = message["data"] if message else None
    await spy.aclose()
    for message in (forged, captured, b"not sealed", b"x" * 100_000):
        await holder.client.publish(channel, message)
    async with asyncio.timeout(5):
        while holder.refused_messages < 4:
            await asyncio.sleep(0.02)
    assert got == [Say("once")]  # only the genuine one, once


async def test_forged_answers_for_the_connect_action_dial_nothing(fleet: Make) -> None:
    reg = await fleet("p1")
    await held(reg, A)
    await reg.release(A, None)
    bad = Seal(b"x" * 32).seal("after", {"call": A, "dial": "+15550000000"}, reg.clock())
    await reg.client.hset(reg.keys.after, A, bad)
    assert await reg.after_stream(A) is None
    other_call = reg.seal.seal("after", {"call": B, "dial": "+15550000000"}, reg.clock())
    await reg.client.hset(reg.keys.after, A, other_call)  # a genuine answer, for another call
    assert await reg.after_stream(A) is None
    assert reg.refused_messages == 2


async def test_a_dead_process_s_call_is_orphaned_once_with_the_apology(fleet: Make) -> None:
    closed: list[tuple[str, str]] = []

    async def on_orphan(call_sid: str, reason: str) -> None:
        closed.append((call_sid, reason))

    dying = await fleet("p1", lease_s=1.0)
    survivor = await fleet("p2", on_orphan=on_orphan, lease_s=1.0)
    other = await fleet("p3", on_orphan=on_orphan, lease_s=1.0)
    await held(dying, A)
    await dying.transferring(A, None)
    for task in dying._tasks:  # as SIGKILL: no more heartbeats, nothing cleaned up
        task.cancel()
    assert await survivor.locate(A) == "p1"
    answers = await asyncio.gather(survivor.after_stream(A), other.after_stream(A))
    reason = orphan_reason("p1")
    assert sorted(answers, key=str) == sorted([Apologise(reason), None], key=str)
    assert closed == [(A, reason)]  # exactly one process closed it
    assert await survivor.locate(A) is None
    assert (await survivor.load()).phone == 0


async def test_after_stream_waits_for_a_live_holder_to_release(fleet: Make) -> None:
    holder = await fleet("p1")
    other = await fleet("p2")
    await held(holder, A)
    await holder.transferring(A, "+15551230001")
    asking = asyncio.create_task(other.after_stream(A))
    await asyncio.sleep(0.3)
    assert not asking.done()
    await holder.release(A, Apologise("x"))
    assert await asking == Dial("+15551230001")


async def test_the_throttle_is_shared_by_every_process(redis_server_url: str) -> None:
    shared = prefix()
    clients = [Redis.from_url(redis_server_url) for _ in range(2)]
    now = [0.0]
    one, two = (
        RedisThrottle(c, shared, FailureThrottle(rate=1 / 6, burst=10), lambda: now[0])
        for c in clients
    )
    assert [await (one if i % 2 else two).failed("192.0.2.1") for i in range(10)] == [False] * 9 + [
        True
    ]
    assert await one.blocked("192.0.2.1") and await two.blocked("192.0.2.1")
    assert not await one.blocked("192.0.2.2")
    now[0] = 6.1
    assert not await two.blocked("192.0.2.1")
    for client in clients:
        await client.aclose()


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    if not redis_available():
        pytest.skip("no redis-server to stop and restart")
    server = RedisServer().start()
    yield server
    server.close()


async def test_redis_stopped_and_restarted_under_a_call(
    fleet: Make, own_redis: RedisServer
) -> None:
    downs: list[int] = []
    holder = await fleet("p1", url=own_redis.url, lease_s=1.0, on_down=lambda: downs.append(1))
    other = await fleet("p2", url=own_redis.url, lease_s=1.0)
    await held(holder, A)
    await held(holder, B)
    own_redis.stop()
    with pytest.raises(CallRefused) as refused:
        await holder.offer("CA" + "c" * 32)
    assert (refused.value.reason, refused.value.replayed) == (UNREACHABLE, False)
    assert await holder.admit("CA" + "c" * 32, "1.x.y") == "malformed stream token"
    with pytest.raises(RegistryUnavailable):
        await other.locate(A)
    await holder.release(B, Apologise("agent failed"))  # kept here meanwhile
    assert await holder.after_stream(B) == Apologise("agent failed")  # answered from here
    await holder.release(B, None)
    assert holder.down and downs
    own_redis.start()  # empty: Redis keeps nothing across this restart
    async with asyncio.timeout(10):
        while holder.down or await other.locate(A) != "p1":
            await asyncio.sleep(0.1)
    assert await other.locate(B) is None  # its end was replayed into Redis
    token = await other.offer("CA" + "c" * 32)  # fleet mode again: capacity counts A
    with pytest.raises(CallRefused):
        await other.offer("CA" + "d" * 32)
    assert await other.admit("CA" + "c" * 32, token) is None


async def test_tls_and_a_password(tmp_path: Path, fleet: Make) -> None:
    if not redis_available():
        pytest.skip("no redis-server")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    files = {name: tmp_path / name for name in ("ca.pem", "cert.pem", "key.pem")}
    ca.cert_pem.write_to_path(str(files["ca.pem"]))
    cert.cert_chain_pems[0].write_to_path(str(files["cert.pem"]))
    cert.private_key_pem.write_to_path(str(files["key.pem"]))
    server = RedisServer(scheme="rediss", auth=":s3cret-pass@")
    server.port = port = free_port()
    server.extra = [
        "--port", "0", "--tls-port", str(port), "--requirepass", "s3cret-pass",
        "--tls-cert-file", str(files["cert.pem"]), "--tls-key-file", str(files["key.pem"]),
        "--tls-ca-cert-file", str(files["ca.pem"]), "--tls-auth-clients", "no",
    ]  # fmt: skip
    server.query = f"?ssl_ca_certs={files['ca.pem']}"
    server.start()
    try:
        reg = await fleet("p1", url=server.url)
        await held(reg, A)
        assert await reg.locate(A) == "p1"
        with pytest.raises(Exception, match=r"(?i)auth|password|WRONGPASS"):
            wrong = Redis.from_url(server.url.replace("s3cret-pass", "wrong"))
            try:
                await wrong.ping()
            finally:
                await wrong.aclose()
    finally:
        server.close()


async def test_a_redis_restarted_between_two_heartbeats_gets_the_calls_back(
    fleet: Make, own_redis: RedisServer
) -> None:
    holder = await fleet("p1", url=own_redis.url, lease_s=1.0)
    other = await fleet("p2", url=own_redis.url, lease_s=1.0)
    await held(holder, A)
    await holder.client.flushall()  # as a restart without persistence, unnoticed by any call
    assert await other.locate(A) is None
    async with asyncio.timeout(5):
        while await other.locate(A) != "p1":  # the holder's next heartbeat
            await asyncio.sleep(0.05)
    assert not holder.down
