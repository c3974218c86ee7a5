"""Tool declarations from type hints and docstrings; loading from module paths."""

from __future__ import annotations

import enum
from typing import Any, Literal

import pytest

from app.errors import ToolDefinitionError
from app.tools import declare, load_tools, tool
from app.tools.examples import opening_hours, order_status

HERE = __name__  # the module the tools below are named after, in error messages


def test_declaration_from_hints_and_docstring() -> None:
    hours = declare(opening_hours)
    assert hours.name == "opening_hours"
    assert hours.description == "Tell when the store is open on a given day of the week."
    assert hours.parameters == {
        "type": "object",
        "properties": {
            "day": {
                "type": "string",
                "enum": [
                    "monday",
                    "tuesday",
                    "wednesday",
                    "thursday",
                    "friday",
                    "saturday",
                    "sunday",
                ],
                "description": "The day of the week, in lower case.",
            }
        },
        "required": ["day"],
    }
    assert hours.function is opening_hours
    assert not hours.non_blocking and hours.scheduling is None


def test_a_name_given_replaces_the_function_name() -> None:
    assert declare(opening_hours, name="hours").name == "hours"


def test_options_and_defaults_and_multiline_descriptions() -> None:
    [_, _, add, _] = load_tools(["tests.support.sample_tools"])
    assert add.non_blocking and add.scheduling == "SILENT"
    props = add.parameters["properties"]
    assert props["a"] == {"type": "integer", "description": "The first number."}
    assert props["b"]["description"] == "The second number, which defaults to one."
    assert props["tags"]["type"] == "array" and props["tags"]["items"] == {"type": "string"}
    assert add.parameters["required"] == ["a"]
    assert declare(order_status).scheduling == "WHEN_IDLE"


# tool() is applied inside the tests, not at import: a marking done when the module is
# imported would happen before the code under test could differ.


def test_tool_marks_non_blocking_and_scheduling() -> None:
    async def ring(times: int) -> None:
        """Ring."""

    marked = tool(non_blocking=True, scheduling="INTERRUPT")(ring)
    assert marked is ring
    declared = declare(marked)
    assert declared.non_blocking is True and declared.scheduling == "INTERRUPT"


def test_tool_is_blocking_unless_told_otherwise() -> None:
    async def ring(times: int) -> None:
        """Ring."""

    declared = declare(tool(scheduling="WHEN_IDLE")(ring))
    assert declared.non_blocking is False and declared.scheduling == "WHEN_IDLE"

    async def chime() -> None:
        """Chime."""

    declared = declare(tool()(chime))
    assert declared.non_blocking is False and declared.scheduling is None


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


async def file_away(
    record: dict[str, Any],
    extra: dict,  # type: ignore[type-arg]
    labels: tuple[str, ...],
    note: str | None = None,
) -> None:
    """File a record."""


def test_dicts_are_objects_sequences_arrays_and_optionals_their_type() -> None:
    assert declare(file_away).parameters == {
        "type": "object",
        "properties": {
            "record": {"type": "object"},
            "extra": {"type": "object"},
            "labels": {"type": "array", "items": {"type": "string"}},
            "note": {"type": "string"},
        },
        "required": ["record", "extra", "labels"],
    }


async def explained(when: str, where: str = "here") -> None:
    """Say when
    and where.

    This paragraph is for the reader of the code, not for the model.

    Args:
        when: The time, in either form:
                clock: 21:10,
                words: ten past nine.
        where: The place.
    """


def test_only_the_first_paragraph_describes_the_tool_and_its_lines_are_joined() -> None:
    declared = declare(explained)
    assert declared.description == "Say when and where."
    assert declared.parameters["properties"] == {
        # a deeper line stays part of the description, even one shaped like "name: text"
        "when": {
            "type": "string",
            "description": "The time, in either form: clock: 21:10, words: ten past nine.",
        },
        "where": {"type": "string", "description": "The place."},
    }


# Docstrings given as strings: written in the source, the formatter would take the spaces
# off the blank line, and cleandoc would take the depth off the entries.


async def deep(depth: int) -> None:
    pass


deep.__doc__ = "Go deep.\n\nArgs:\n            depth: How far down.\n"


async def prefaced(a: int, b: int) -> None:
    pass


prefaced.__doc__ = (
    "Add.\n\nArgs:\n    Both are whole numbers.\n    a: The first.\n        \n    b: The second.\n"
)


def test_args_sections_read_leniently() -> None:
    # the first entry counts at any depth
    assert declare(deep).parameters["properties"]["depth"] == {
        "type": "integer",
        "description": "How far down.",
    }
    # a line before the first entry is no one's; a blank line (spaces left on it) adds nothing
    assert declare(prefaced).parameters["properties"] == {
        "a": {"type": "integer", "description": "The first."},
        "b": {"type": "integer", "description": "The second."},
    }


async def untyped(x) -> None:  # type: ignore[no-untyped-def]
    """No hint."""


async def undocumented(x: int) -> None:
    pass


def sync_tool(x: int) -> None:
    """Not async."""


async def odd(x: complex) -> None:
    """Unsupported type."""


async def odd_items(x: list[complex]) -> None:
    """Unsupported item type."""


async def odd_optional(x: complex | None = None) -> None:
    """Unsupported optional type."""


async def mixed(x: Literal[1, "one"]) -> None:
    """Literal of two types."""


async def nothing(x: Literal[None]) -> None:
    """Literal of no simple type."""


async def variadic(*x: int) -> None:
    """Star args."""


async def keywords(**x: int) -> None:
    """Star-star kwargs."""


async def unreadable(x: Nowhere) -> None:  # type: ignore[name-defined]  # noqa: F821
    """An annotation naming nothing."""


@pytest.mark.parametrize(
    ("function", "message"),
    [
        (untyped, f"tool {HERE}.untyped: parameter 'x' needs a type hint"),
        (
            undocumented,
            f"tool {HERE}.undocumented: needs a docstring (it tells the model what it does)",
        ),
        (sync_tool, f"tool {HERE}.sync_tool: must be an async function"),
        (str.upper, "tool ?.upper: must be an async function"),  # no __module__ at all
        (odd, f"tool {HERE}.odd, parameter 'x': unsupported type <class 'complex'>"),
        (odd_items, f"tool {HERE}.odd_items, parameter 'x': unsupported type <class 'complex'>"),
        (
            odd_optional,
            f"tool {HERE}.odd_optional, parameter 'x': unsupported type <class 'complex'>",
        ),
        (mixed, f"tool {HERE}.mixed, parameter 'x': Literal values must share one simple type"),
        (
            nothing,
            f"tool {HERE}.nothing, parameter 'x': Literal values must share one simple type",
        ),
        (variadic, f"tool {HERE}.variadic: *args and **kwargs cannot be declared"),
        (keywords, f"tool {HERE}.keywords: *args and **kwargs cannot be declared"),
        (
            unreadable,
            f"tool {HERE}.unreadable: its type hints cannot be read"
            " (name 'Nowhere' is not defined)",
        ),
    ],
)
def test_bad_tools_are_refused_with_a_reason(function: object, message: str) -> None:
    with pytest.raises(ToolDefinitionError) as refused:
        declare(function)  # type: ignore[arg-type]
    assert str(refused.value) == message


def test_module_loading_errors_name_the_module() -> None:
    with pytest.raises(ToolDefinitionError, match=r"cannot import 'no\.such\.module'"):
        load_tools(["no.such.module"])
    with pytest.raises(ToolDefinitionError, match="used twice"):
        load_tools(["app.tools.examples", "app.tools.examples"])


def test_example_module_offers_its_public_async_functions() -> None:
    names = [t.name for t in load_tools(["app.tools.examples"])]
    assert names == ["opening_hours", "order_status", "current_time"]


def test_a_wrapped_line_shaped_like_an_entry_stays_in_its_entry() -> None:
    """Found by mutation testing: any 'word: text' line indented 8 or less was taken as
    a new entry, so in Google style (entries at 4, wrapped lines at 8) a wrapped line
    cut the description short and named a parameter that does not exist."""

    async def deliver(mode: str, to: str) -> None:
        """Send the receipt.

        Args:
            mode: How to deliver it, one of
                email: send a message,
                sms: send a text.
            to: Where.
        """

    properties = declare(deliver).parameters["properties"]
    assert properties["mode"]["description"] == (
        "How to deliver it, one of email: send a message, sms: send a text."
    )
    assert properties["to"]["description"] == "Where."
    assert set(properties) == {"mode", "to"}
