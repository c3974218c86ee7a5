# edge: runs tool calls as asyncio tasks
"""One call's tool calls: run concurrently, bounded in time, cancellable.

Every call gets exactly one answer unless the model cancels it: the tool's result as
``{"result": …}``, or a structured ``{"error": {"type", "message", "retry", "hint"}}``
when the tool raised, timed out, or does not exist. No answer is ever empty: Gemini
3.8 calls a tool whose answer is empty again, two to five times, before it speaks
(Google's migration advice is an informative payload), so a tool that returns nothing
(``None``, ``""``, an empty list or mapping) is answered with what happened and that
calling again will not change it, and every error says whether retrying can help. A
failing tool never ends the call. Calls are told apart by :attr:`ToolCall.key`, so
calls the model sent without an id run side by side and each gets its own answer.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from app.agent.events import ToolCall
from app.tools import Tool
from app.tools.arguments import argument_problem

# Sends one answer: the call, the response, the tool's scheduling (None: the default).
Respond = Callable[[ToolCall, dict[str, Any], str | None], Awaitable[object]]
Builtin = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


class ToolCalls:
    def __init__(
        self,
        tools: Mapping[str, Tool],
        builtins: Mapping[str, Builtin],
        respond: Respond,
        timeout_s: float,
        log: logging.LoggerAdapter[Any] | logging.Logger,
    ) -> None:
        self._tools = tools
        self._builtins = builtins
        self._respond = respond
        self._timeout_s = timeout_s
        self._log = log
        self._running: dict[str, asyncio.Task[None]] = {}
        self.completed = 0
        self.failed = 0
        self.cancelled = 0

    @property
    def running(self) -> int:
        return len(self._running)

    def start(self, call: ToolCall) -> None:
        task = asyncio.create_task(self._run(call), name=f"tool {call.name}")
        self._running[call.key] = task
        task.add_done_callback(lambda _: self._running.pop(call.key, None))

    def cancel(self, call_ids: tuple[str, ...]) -> None:
        """Stop the calls with these model ids (a call without an id cannot be cancelled)."""
        for call_id in call_ids:
            task = self._running.pop(call_id, None)
            if task is not None:
                task.cancel()
                self.cancelled += 1
                self._log.info("tool call %s cancelled by the model", call_id)

    async def aclose(self) -> None:
        tasks = list(self._running.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _run(self, call: ToolCall) -> None:
        tool = self._tools.get(call.name)
        scheduling = tool.scheduling if tool else None
        try:
            async with asyncio.timeout(self._timeout_s):
                response = await self._invoke(call)
            self.completed += 1
            self._log.info("tool %s(%s) → %s", call.name, _short(call.args), _short(response))
        except TimeoutError:
            self.failed += 1
            response = _error(
                "timeout", f"{call.name} took longer than {self._timeout_s:g} s", retry=True
            )
            self._log.warning("tool %s timed out after %.1f s", call.name, self._timeout_s)
        except _ToolMissing as missing:
            self.failed += 1
            response = _error("unknown_tool", str(missing), retry=False)
            self._log.warning("model called an unknown tool %r", call.name)
        except _BadArguments as bad:
            self.failed += 1
            response = _error("bad_arguments", str(bad), retry=True)
            self._log.warning("tool %s called with bad arguments: %s", call.name, bad)
        except Exception as error:  # a tool's own failure goes back to the model, not up
            self.failed += 1
            response = _error(type(error).__name__, str(error), retry=False)
            self._log.exception("tool %s failed", call.name)
        await self._respond(call, self._sendable(call, response), scheduling)

    def _sendable(self, call: ToolCall, response: dict[str, Any]) -> dict[str, Any]:
        """The response as JSON can carry it, so the model is answered: bytes and dates
        as the SDK would write them, anything else JSON has no type for (a set, say) as
        its text. (The SDK's own json.dumps would raise TypeError, and no answer go.)"""
        try:
            json.dumps(response)
            return response
        except (TypeError, ValueError) as error:
            self._log.warning("tool %s returned %s; sent as text", call.name, error)
            converted: dict[str, Any] = json.loads(json.dumps(response, default=_as_text))
            return converted

    async def _invoke(self, call: ToolCall) -> dict[str, Any]:
        builtin = self._builtins.get(call.name)
        if builtin is not None:
            return await builtin(call.args)
        tool = self._tools.get(call.name)
        if tool is None or tool.function is None:
            raise _ToolMissing(f"no tool named {call.name!r}")
        problem = argument_problem(tool, call.args)
        if problem is not None:
            raise _BadArguments(problem)
        result = await tool.function(**call.args)
        return {"result": _no_data(call.name) if _empty(result) else result}


class _ToolMissing(Exception):
    """Internal: the model named a tool that was not declared."""


class _BadArguments(Exception):
    """Internal: arguments the tool's declaration does not allow."""


# What each kind of failure tells the model to do next (Gemini 3.8 otherwise retries).
_HINTS = {
    "timeout": "Try once more at most; if it fails again, tell the caller it is not"
    " available right now.",
    "unknown_tool": "Use only the functions you were given.",
    "bad_arguments": "Call it again with arguments that match its declaration.",
}
_FAILED_HINT = "Calling it again will not help now: tell the caller it could not be done."


def _error(kind: str, message: str, *, retry: bool) -> dict[str, Any]:
    hint = _HINTS.get(kind, _FAILED_HINT)
    return {"error": {"type": kind, "message": message, "retry": retry, "hint": hint}}


def _empty(result: object) -> bool:
    """Nothing to tell: None, or an empty string, list or mapping."""
    return result is None or (isinstance(result, (str, list, tuple, dict)) and not result)


def _no_data(name: str) -> dict[str, Any]:
    return {
        "status": "done",
        "message": f"{name} finished and had nothing to report (no data).",
        "retry": False,
        "hint": "Calling it again will give the same; go on with the conversation.",
    }


def _as_text(value: object) -> str:
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    return str(value)


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."
