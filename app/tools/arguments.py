"""Does a tool call's arguments fit the tool's declaration? Pure.

Checked before the tool runs, so that ``bad_arguments`` means exactly that the model
sent arguments the declaration does not allow (a missing or unknown name, a value of
the wrong JSON type or outside its enum), and a TypeError raised inside a tool is
reported as the tool's own failure.
"""

from __future__ import annotations

from typing import Any

from app.tools.declare import Tool

JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
}


def argument_problem(tool: Tool, args: dict[str, Any]) -> str | None:
    """What is wrong with ``args`` for ``tool``, in a sentence; None if nothing is."""
    properties: dict[str, Any] = tool.parameters.get("properties", {})
    for name in tool.parameters.get("required", []):
        if name not in args:
            return f"{tool.name} needs the argument {name!r}"
    required = set(tool.parameters.get("required", []))
    for name, value in args.items():
        schema = properties.get(name)
        if schema is None:
            known = ", ".join(properties) or "none"
            return f"{tool.name} takes no argument {name!r} (it takes: {known})"
        if value is None and name not in required:
            continue  # null for an optional parameter: its default
        problem = value_problem(value, schema, f"{tool.name}'s {name!r}")
        if problem is not None:
            return problem
    return None


def value_problem(value: object, schema: dict[str, Any], where: str) -> str | None:
    kind = schema.get("type")
    expected = JSON_TYPES.get(kind) if isinstance(kind, str) else None
    # bool is an int to Python, never to JSON
    wrong = expected is not None and (
        not isinstance(value, expected) or (isinstance(value, bool) and kind != "boolean")
    )
    if wrong:
        return f"{where} must be a{'n' if str(kind)[0] in 'aeiou' else ''} {kind}, not {value!r}"
    if "enum" in schema and value not in schema["enum"]:
        return f"{where} must be one of {schema['enum']}, not {value!r}"
    if kind == "array" and isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            problem = value_problem(item, schema["items"], f"{where}[{index}]")
            if problem is not None:
                return problem
    return None
