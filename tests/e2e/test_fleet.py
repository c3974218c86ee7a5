"""Three `python -m app` processes behind the proxy, sharing a real Redis and a real
PostgreSQL, carry calls as one: a call's webhook, stream and <Connect action> each on a
different process (a transfer through the action), controls sent to processes that do
not hold the call, capacity and single-use tokens across the fleet, Redis stopped and
restarted under a call, and a process killed (SIGKILL) mid-call.

The processes are shared by the tests of this module, in order (the last one kills one).
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from app.errors import TwimlError
from app.telephony.media_stream import MediaStream
from tests.support.calls import QUESTION, REPLY
from tests.support.fleet import TARGET, Fleet, running_fleet, tags
from tests.support.gemini_standin import GeminiStandIn, answer_every_text
from tests.support.stores import (
    REDIS_MISSING,
    PostgresServer,
    RedisServer,
    missing,
    redis_available,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

BUSY = "Sorry, all our lines are busy right now."


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def fleet(
    tmp_path_factory: pytest.TempPathFactory, postgres_server: PostgresServer | str
) -> AsyncIterator[Fleet]:
    if not redis_available():
        missing(REDIS_MISSING, "REQUIRE_REDIS")
    directory = tmp_path_factory.mktemp("fleet")
    database = postgres_server if isinstance(postgres_server, str) else postgres_server.database()
    redis = RedisServer().start()  # its own: a test stops and restarts it
    try:
        async with GeminiStandIn(directory, answer_every_text(REPLY)) as standin:
            async with running_fleet(
                standin,
                directory,
                redis,
                database,
                MAX_CONCURRENT_CALLS="2",
                STREAM_TOKEN_TTL_SECONDS="30",
            ) as running:
                yield running
            assert not standin.errors, standin.errors
    finally:
        redis.close()


async def started(fleet: Fleet, index: int, call_sid: str, webhook_on: int) -> MediaStream:
    """A call whose webhook lands on ``webhook_on`` and whose stream runs on ``index``."""
    instruction = await fleet.on(webhook_on).incoming_call(call_sid)
    stream = await fleet.on(index).open_stream(instruction)
    await stream.replay(QUESTION[:25], stop=False)
    async with asyncio.timeout(10):
        while await fleet.active(index) < 1:
            await asyncio.sleep(0.05)
    return stream


async def steer(fleet: Fleet, index: int, call_sid: str, action: str, body: object) -> int:
    """An operator control through process ``index``; retried while the call is still
    starting (409)."""
    async with asyncio.timeout(10):
        while True:
            answer = await fleet.request(index, "POST", f"/calls/{call_sid}/{action}", json=body)
            if answer.status_code != 409:
                return answer.status_code
            await asyncio.sleep(0.1)


async def ended(stream: MediaStream, call_sid: str) -> None:
    if stream.closed_code is None:
        await stream.stop(call_sid)
    await stream.wait_closed()


async def test_a_call_spread_over_three_processes_is_one_call(fleet: Fleet) -> None:
    sid = "CA" + "1" * 32
    stream = await started(fleet, 1, sid, webhook_on=0)  # webhook on 0, stream on 1
    assert await steer(fleet, 2, sid, "say", {"text": "Tell them it shipped."}) == 202
    await stream.wait_for(lambda: len(stream.heard) >= len(REPLY) // 6, timeout=15)
    # The transfer, asked of process 0, is made through the <Connect action>, which
    # Twilio asks of process 2: it dials the number.
    assert await steer(fleet, 0, sid, "transfer", {"target": "desk"}) == 202
    await stream.wait_closed(timeout=20)
    after = await fleet.on(2).call_ended(sid)
    assert tags(after.text) == ["Dial"] and TARGET in after.text
    again = await fleet.on(0).call_ended(sid)
    assert tags(again.text) == ["Hangup"]  # given once, whichever process is asked
    # The records and the recording are the fleet's: any process shows them.
    async with asyncio.timeout(10):
        while True:
            calls = (await fleet.request(2, "GET", "/calls")).json()["calls"]
            if any(c["call_sid"] == sid and c["outcome"] for c in calls):
                break
            await asyncio.sleep(0.1)
    record = (await fleet.request(0, "GET", f"/calls/{sid}")).json()
    assert record["outcome"] == "completed"
    recording = await fleet.request(2, "GET", f"/calls/{sid}/recording")
    assert recording.status_code == 200 and recording.content[:4] == b"RIFF"
    assert (await fleet.request(0, "POST", f"/calls/{sid}/hangup")).status_code == 404


async def test_capacity_and_single_use_tokens_hold_across_the_fleet(fleet: Fleet) -> None:
    a, b, c = ("CA" + d * 32 for d in "234")
    first = await fleet.on(0).incoming_call(a)  # MAX_CONCURRENT_CALLS=2, fleet-wide
    second = await fleet.on(1).incoming_call(b)
    with pytest.raises(TwimlError, match=BUSY):
        await fleet.on(2).incoming_call(c)
    stream = await fleet.on(2).open_stream(first)
    await stream.replay(QUESTION[:25], stop=False)
    replayed = await fleet.on(0).open_stream(first)  # the same token, another process
    await replayed.replay(QUESTION[:5], stop=False)
    await replayed.wait_closed()
    assert replayed.closed_code == 1008
    assert "already used" in replayed.closed_reason
    other = await fleet.on(1).open_stream(second)
    await other.replay(QUESTION[:25], stop=False)
    with pytest.raises(TwimlError, match=BUSY):
        await fleet.on(0).incoming_call(c)
    await ended(stream, a)
    await ended(other, b)
    third = await fleet.on(2).incoming_call(c)  # a line is free again
    stream = await fleet.on(0).open_stream(third)
    await stream.replay(QUESTION[:10], stop=False)
    await ended(stream, c)


async def test_redis_stopped_under_a_call_then_restarted(fleet: Fleet) -> None:
    sid, later = "CA" + "5" * 32, "CA" + "6" * 32
    stream = await started(fleet, 1, sid, webhook_on=0)
    fleet.redis.stop()
    heard = len(stream.heard)
    # The call goes on: the agent still answers what it is told, the caller hears it.
    await stream.replay(QUESTION[25:60], stop=False)
    assert stream.closed_code is None
    with pytest.raises(TwimlError, match=BUSY):  # new calls: the busy answer
        await fleet.on(2).incoming_call(later)
    down = await fleet.request(0, "POST", f"/calls/{sid}/say", json={"text": "x"})
    assert down.status_code == 503 and "Redis" in down.json()["error"]
    fleet.redis.start()  # empty: Redis kept nothing
    async with asyncio.timeout(15):
        while await steer(fleet, 2, sid, "say", {"text": "Still there?"}) != 202:
            await asyncio.sleep(0.2)  # until process 1's heartbeat re-registered the call
    await stream.wait_for(lambda: len(stream.heard) > heard + len(REPLY) // 12, timeout=15)
    assert stream.closed_code is None
    token = await fleet.on(2).incoming_call(later)  # fleet mode again
    other = await fleet.on(0).open_stream(token)
    await other.replay(QUESTION[:10], stop=False)
    await ended(other, later)
    await ended(stream, sid)
    metrics = (await fleet.request(0, "GET", "/metrics")).text
    assert "phonebot_registry_unreachable_total" in metrics


async def test_a_process_killed_mid_call_gives_the_apology_through_a_survivor(
    fleet: Fleet,
) -> None:
    sid = "CA" + "7" * 32
    stream = await started(fleet, 2, sid, webhook_on=0)
    victim = fleet.processes[2].process
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait(10)
    await stream.wait_closed(timeout=10)
    after = await fleet.on(1).call_ended(sid)  # Twilio asks a survivor, at once
    assert tags(after.text) == ["Say", "Hangup"]
    assert "something went wrong on our side" in after.text
    async with asyncio.timeout(10):
        while True:
            record = (await fleet.request(0, "GET", f"/calls/{sid}")).json()
            if record.get("outcome"):
                break
            await asyncio.sleep(0.1)
    assert record["outcome"] == "internal_error"
    assert record["reason"].startswith("orphaned: the process holding the call")
    assert (await fleet.request(1, "POST", f"/calls/{sid}/hangup")).status_code == 404
