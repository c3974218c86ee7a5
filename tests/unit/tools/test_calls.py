"""ToolCalls: concurrent calls, each answered once, told apart even without ids."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Any

import pytest

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


async def answer_of(tools: dict[str, Any], call: ToolCall, timeout_s: float = 5) -> dict[str, Any]:
    """The one answer ``call`` gets from ToolCalls running ``tools`` (operator tools)."""
    answers: list[dict[str, Any]] = []

    async def respond(call: ToolCall, response: dict[str, Any], scheduling: str | None) -> None:
        answers.append(response)

    calls = ToolCalls(tools, {}, respond, timeout_s=timeout_s, log=log)
    calls.start(call)
    async with asyncio.timeout(5):
        while not answers:
            await asyncio.sleep(0.001)
    return answers[0]


def declared(function: Any) -> dict[str, Any]:
    from app.tools import declare

    tool = declare(function)
    return {tool.name: tool}


@pytest.mark.parametrize("nothing", [None, "", [], {}, ()])
async def test_a_tool_that_returns_nothing_is_answered_with_what_happened(nothing: object) -> None:
    async def lookup() -> object:
        """Look it up."""
        return nothing

    answer = await answer_of(declared(lookup), ToolCall("c1", "lookup", {}))
    assert answer == {
        "result": {
            "status": "done",
            "message": "lookup finished and had nothing to report (no data).",
            "retry": False,
            "hint": "Calling it again will give the same; go on with the conversation.",
        }
    }


@pytest.mark.parametrize("something", [0, False, "x", [0], {"a": None}, 0.0])
async def test_a_tool_that_returns_something_falsy_is_answered_with_it(something: object) -> None:
    async def lookup() -> object:
        """Look it up."""
        return something

    assert await answer_of(declared(lookup), ToolCall("c1", "lookup", {})) == {"result": something}


async def test_every_failure_says_whether_retrying_helps() -> None:
    async def slow() -> str:
        """Slow."""
        await asyncio.sleep(5)
        return "late"

    async def broken() -> str:
        """Broken."""
        raise RuntimeError("down")

    async def add(a: int) -> int:
        """Add."""
        return a

    tools = {**declared(slow), **declared(broken), **declared(add)}
    failures = {
        "timeout": await answer_of(tools, ToolCall("c1", "slow", {}), timeout_s=0.01),
        "RuntimeError": await answer_of(tools, ToolCall("c2", "broken", {})),
        "bad_arguments": await answer_of(tools, ToolCall("c3", "add", {"a": "x"})),
        "unknown_tool": await answer_of(tools, ToolCall("c4", "nope", {})),
    }
    errors = {kind: answer["error"] for kind, answer in failures.items()}
    assert {kind: error["type"] for kind, error in errors.items()} == {k: k for k in errors}
    assert {kind: error["retry"] for kind, error in errors.items()} == {
        "timeout": True,
        "RuntimeError": False,
        "bad_arguments": True,
        "unknown_tool": False,
    }
    assert errors["timeout"]["hint"].startswith("Try once more at most")
    assert errors["RuntimeError"]["hint"].startswith("Calling it again will not help")
    assert errors["bad_arguments"]["hint"] == (
        "Call it again with arguments that match its declaration."
    )
    assert errors["unknown_tool"]["hint"] == "Use only the functions you were given."
    assert errors["timeout"]["message"] == "slow took longer than 0.01 s"
    assert errors["unknown_tool"]["message"] == "no tool named 'nope'"
