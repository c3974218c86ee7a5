"""Tool declarations from type hints and docstrings; loading from module paths."""

from __future__ import annotations

import enum
from typing import Literal

import pytest

from app.errors import ToolDefinitionError
from app.tools import declare, load_tools
from app.tools.examples import opening_hours, order_status


def test_declaration_from_hints_and_docstring() -> None:
    hours = declare(opening_hours)
    assert hours.name == "opening_hours"
    assert hours.description == "Tell when the store is open on a given day of the week."
    day = hours.parameters["properties"]["day"]
    assert day["type"] == "string" and "sunday" in day["enum"]
    assert day["description"] == "The day of the week, in lower case."
    assert hours.parameters["required"] == ["day"]
    assert not hours.non_blocking


def test_options_and_defaults_and_multiline_descriptions() -> None:
    [_, _, add, _] = load_tools(["tests.support.sample_tools"])
    assert add.non_blocking and add.scheduling == "SILENT"
    props = add.parameters["properties"]
    assert props["a"] == {"type": "integer", "description": "The first number."}
    assert props["b"]["description"] == "The second number, which defaults to one."
    assert props["tags"]["type"] == "array" and props["tags"]["items"] == {"type": "string"}
    assert add.parameters["required"] == ["a"]
    assert declare(order_status).scheduling == "WHEN_IDLE"


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


async def paint(colour: Colour, shade: Literal[1, 2, 3], ratio: float, dry: bool) -> None:
    """Paint."""


def test_enums_literals_and_simple_types() -> None:
    props = declare(paint).parameters["properties"]
    assert props["colour"] == {"type": "string", "enum": ["red", "blue"]}
    assert props["shade"] == {"type": "integer", "enum": [1, 2, 3]}
    assert props["ratio"] == {"type": "number"} and props["dry"] == {"type": "boolean"}


async def untyped(x) -> None:  # type: ignore[no-untyped-def]
    """No hint."""


async def undocumented(x: int) -> None:
    pass


def sync_tool(x: int) -> None:
    """Not async."""


async def odd(x: complex) -> None:
    """Unsupported type."""


@pytest.mark.parametrize(
    ("function", "message"),
    [
        (untyped, "needs a type hint"),
        (undocumented, "needs a docstring"),
        (sync_tool, "must be an async function"),
        (odd, "unsupported type"),
    ],
)
def test_bad_tools_are_refused_with_a_reason(function: object, message: str) -> None:
    with pytest.raises(ToolDefinitionError, match=message):
        declare(function)  # type: ignore[arg-type]


def test_module_loading_errors_name_the_module() -> None:
    with pytest.raises(ToolDefinitionError, match=r"cannot import 'no\.such\.module'"):
        load_tools(["no.such.module"])
    with pytest.raises(ToolDefinitionError, match="used twice"):
        load_tools(["app.tools.examples", "app.tools.examples"])


def test_example_module_offers_its_public_async_functions() -> None:
    names = [t.name for t in load_tools(["app.tools.examples"])]
    assert names == ["opening_hours", "order_status", "current_time"]
