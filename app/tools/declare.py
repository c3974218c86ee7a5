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
import inspect
import re
import types
import typing
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from app.errors import ToolDefinitionError

ToolFunction = Callable[..., Awaitable[Any]]
Scheduling = Literal["INTERRUPT", "WHEN_IDLE", "SILENT"]


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
        current, depth = None, 0
        for line in match.group(1).splitlines():
            indent = len(line) - len(line.lstrip())
            item = re.match(r"\s+(\w+)(?:\s*\([^)]*\))?:\s*(.*)", line)
            # An entry starts as deep as the entries do; a deeper "word: text" line is a
            # wrapped line of the entry above.
            if item and (current is None or indent <= depth):
                current, depth = item.group(1), indent
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
