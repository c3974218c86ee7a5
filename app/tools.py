"""Tools the agent can call: plain async functions, declared from their signatures.

A tool is an ``async def`` with type hints and a docstring. Its function declaration
(a JSON schema) is generated from them: the docstring's first paragraph describes the
tool, and an ``Args:`` section (Google style) describes each parameter. Operators add
tools without editing the app by naming modules in ``TOOL_MODULES``; a module offers
the functions listed in its ``TOOLS``, or else every public ``async def`` it defines.

:func:`tool` marks a function as non-blocking (the conversation goes on while it
runs) and picks how its result is announced (``INTERRUPT``, ``WHEN_IDLE``, ``SILENT``).
"""

from __future__ import annotations

import enum
import importlib
import inspect
import re
import types
import typing
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

ToolFunction = Callable[..., Awaitable[Any]]
Scheduling = Literal["INTERRUPT", "WHEN_IDLE", "SILENT"]


class ToolDefinitionError(ValueError):
    """A tool that cannot be declared; the message names the function and the problem."""


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    parameters: dict[str, Any]  # JSON schema of the arguments object
    function: ToolFunction | None  # None for the bridge's built-ins
    non_blocking: bool = False
    scheduling: Scheduling | None = None


def tool(
    *, non_blocking: bool = False, scheduling: Scheduling | None = None
) -> Callable[[ToolFunction], ToolFunction]:
    """Mark a tool as non-blocking, and how its result is announced to the caller."""

    def mark(function: ToolFunction) -> ToolFunction:
        function.__tool_options__ = {  # type: ignore[attr-defined]
            "non_blocking": non_blocking,
            "scheduling": scheduling,
        }
        return function

    return mark


_SIMPLE = {str: "string", int: "integer", float: "number", bool: "boolean"}


def _schema(annotation: Any, where: str) -> dict[str, Any]:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if annotation in _SIMPLE:
        return {"type": _SIMPLE[annotation]}
    if origin is Literal:
        kinds = {type(a) for a in args}
        if len(kinds) != 1 or next(iter(kinds)) not in _SIMPLE:
            raise ToolDefinitionError(f"{where}: Literal values must share one simple type")
        return {"type": _SIMPLE[next(iter(kinds))], "enum": list(args)}
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return {"type": "string", "enum": [str(m.value) for m in annotation]}
    if origin in (list, tuple, set, frozenset) and args:
        return {"type": "array", "items": _schema(args[0], where)}
    if origin in (typing.Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1:  # Optional[X]: give it a default to make it optional
            return _schema(rest[0], where)
    if origin is dict or annotation is dict:
        return {"type": "object"}
    raise ToolDefinitionError(f"{where}: unsupported type {annotation!r}")


def _docstring_parts(doc: str) -> tuple[str, dict[str, str]]:
    doc = inspect.cleandoc(doc)
    summary = doc.split("\n\n", 1)[0].replace("\n", " ").strip()
    params: dict[str, str] = {}
    match = re.search(r"^Args:\s*\n((?:[ \t]+.*\n?)+)", doc, re.MULTILINE)
    if match:
        current = None
        for line in match.group(1).splitlines():
            item = re.match(r"\s+(\w+)(?:\s*\([^)]*\))?:\s*(.*)", line)
            if item and (current is None or len(line) - len(line.lstrip()) <= 8):
                current = item.group(1)
                params[current] = item.group(2).strip()
            elif current and line.strip():
                params[current] += " " + line.strip()
    return summary, params


def declare(function: ToolFunction, name: str | None = None) -> Tool:
    """The :class:`Tool` for ``function``, or :class:`ToolDefinitionError` saying why not."""
    where = f"tool {getattr(function, '__module__', '?')}.{function.__name__}"
    if not inspect.iscoroutinefunction(function):
        raise ToolDefinitionError(f"{where}: must be an async function")
    if not function.__doc__:
        raise ToolDefinitionError(f"{where}: needs a docstring (it tells the model what it does)")
    summary, described = _docstring_parts(function.__doc__)
    try:
        hints = typing.get_type_hints(function)
    except Exception as error:  # an annotation that names something undefined
        raise ToolDefinitionError(f"{where}: its type hints cannot be read ({error})") from None
    properties: dict[str, Any] = {}
    required: list[str] = []
    for param in inspect.signature(function).parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise ToolDefinitionError(f"{where}: *args and **kwargs cannot be declared")
        if param.name not in hints:
            raise ToolDefinitionError(f"{where}: parameter {param.name!r} needs a type hint")
        schema = _schema(hints[param.name], f"{where}, parameter {param.name!r}")
        if param.name in described:
            schema["description"] = described[param.name]
        properties[param.name] = schema
        if param.default is param.empty:
            required.append(param.name)
    options = getattr(function, "__tool_options__", {})
    return Tool(
        name=name or function.__name__,
        description=summary,
        parameters={"type": "object", "properties": properties, "required": required},
        function=function,
        non_blocking=bool(options.get("non_blocking", False)),
        scheduling=options.get("scheduling"),
    )


def load_module_tools(module_path: str) -> list[Tool]:
    """Import ``module_path`` and declare its tools."""
    try:
        module = importlib.import_module(module_path)
    except ImportError as error:
        raise ToolDefinitionError(f"TOOL_MODULES: cannot import {module_path!r}: {error}") from None
    except Exception as error:  # the module's own fault at import: SyntaxError, NameError…
        raise ToolDefinitionError(
            f"TOOL_MODULES: importing {module_path!r} failed with {type(error).__name__}:"
            f" {error}; fix the module or take it out of TOOL_MODULES"
        ) from None
    listed = getattr(module, "TOOLS", None)
    if listed is None:
        listed = [
            value
            for name, value in vars(module).items()
            if not name.startswith("_")
            and inspect.iscoroutinefunction(value)
            and value.__module__ == module.__name__
        ]
    tools = [declare(function) for function in listed]
    if not tools:
        raise ToolDefinitionError(f"TOOL_MODULES: {module_path!r} defines no async functions")
    return tools


def load_tools(module_paths: list[str]) -> list[Tool]:
    tools = [t for path in module_paths for t in load_module_tools(path)]
    names = [t.name for t in tools]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ToolDefinitionError(f"TOOL_MODULES: tool names used twice: {', '.join(duplicates)}")
    return tools


END_CALL = "end_call"
TRANSFER_CALL = "transfer_call"


def end_call_tool() -> Tool:
    """The built-in hang-up: the bridge ends the call once the goodbye has been heard."""
    return Tool(
        name=END_CALL,
        description=(
            "End the phone call. Use it when the conversation is finished or the caller"
            " wants to hang up; say a short goodbye first or right after."
        ),
        parameters={
            "type": "object",
            "properties": {"reason": {"type": "string", "description": "Why, in a few words."}},
            "required": [],
        },
        function=None,
    )


def transfer_call_tool(targets: list[str]) -> Tool:
    """The built-in transfer to one of the operator's configured numbers."""
    return Tool(
        name=TRANSFER_CALL,
        description=(
            "Transfer the caller to a person. Use it when the caller asks for a human or"
            " needs help you cannot give. Tell the caller you are transferring them."
        ),
        parameters={
            "type": "object",
            "properties": {
                "target": {"type": "string", "enum": targets, "description": "Who to transfer to."}
            },
            "required": ["target"],
        },
        function=None,
    )
