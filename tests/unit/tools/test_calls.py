"""ToolCalls: concurrent calls, each answered once, told apart even without ids."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Any

from app.agent.events import ToolCall
from app.tools.calls import ToolCalls

log = logging.getLogger("test")


async def test_concurrent_calls_without_an_id_each_get_their_own_answer() -> None:
    release = asyncio.Event()
    answers: list[tuple[ToolCall, dict[str, Any], str | None]] = []

    async def lookup(args: dict[str, Any]) -> dict[str, Any]:
        await release.wait()
        return {"result": f"about {args['topic']}"}

    async def respond(call: ToolCall, response: dict[str, Any], scheduling: str | None) -> None:
        answers.append((call, response, scheduling))

    calls = ToolCalls({}, {"lookup": lookup}, respond, timeout_s=5, log=log)
    first, second = ToolCall("", "lookup", {"topic": "a"}), ToolCall("", "lookup", {"topic": "b"})
    calls.start(first)
    calls.start(second)
    await asyncio.sleep(0)
    assert calls.running == 2  # one would mean the second overwrote the first
    release.set()
    async with asyncio.timeout(5):
        while calls.running:
            await asyncio.sleep(0.001)
    assert sorted((c.key, r["result"]) for c, r, _ in answers) == sorted(
        [(first.key, "about a"), (second.key, "about b")]
    )
    assert calls.completed == 2


async def test_a_cancellation_names_model_ids() -> None:
    started = asyncio.Event()

    async def wait(args: dict[str, Any]) -> dict[str, Any]:
        started.set()
        await asyncio.Event().wait()
        return {}

    async def respond(call: ToolCall, response: dict[str, Any], scheduling: str | None) -> None:
        raise AssertionError("a cancelled call is not answered")

    calls = ToolCalls({}, {"wait": wait}, respond, timeout_s=5, log=log)
    calls.start(ToolCall("call-1", "wait", {}))
    await started.wait()
    calls.cancel(("call-1",))
    await calls.aclose()
    assert (calls.cancelled, calls.running) == (1, 0)


async def test_a_result_json_cannot_carry_is_sent_as_text() -> None:
    answers: list[dict[str, Any]] = []

    async def tags(args: dict[str, Any]) -> dict[str, Any]:
        # a set: the SDK's json.dumps would raise TypeError; bytes and dates it writes so
        return {"result": {"red"}, "raw": b"xy", "at": dt.datetime(2026, 1, 2, 3, 4)}

    async def respond(call: ToolCall, response: dict[str, Any], scheduling: str | None) -> None:
        answers.append(response)

    calls = ToolCalls({}, {"tags": tags}, respond, timeout_s=5, log=log)
    calls.start(ToolCall("t1", "tags", {}))
    async with asyncio.timeout(5):
        while not answers:
            await asyncio.sleep(0.001)
    assert answers == [{"result": "{'red'}", "raw": "eHk=", "at": "2026-01-02T03:04:00"}]
