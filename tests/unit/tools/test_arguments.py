"""Arguments against a tool's declaration: each kind of misfit named exactly, and
nothing refused that the declaration allows (JSON types, not Python's)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.tools.arguments import JSON_TYPES, argument_problem, value_problem
from app.tools.declare import Tool


def declared(parameters: dict[str, Any], name: str = "add") -> Tool:
    return Tool(name=name, description="", parameters=parameters, function=None)


ADD = declared(
    {
        "type": "object",
        "properties": {
            "a": {"type": "integer"},
            "b": {"type": "integer"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "mode": {"type": "string", "enum": ["fast", "slow"]},
        },
        "required": ["a"],
    }
)


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        ({"a": 1}, None),
        ({"a": 1, "b": 2, "tags": ["x", "y"], "mode": "slow"}, None),
        ({"a": 1, "b": None, "tags": None, "mode": None}, None),  # null: the default
        (
            {"a": 1, "b": None, "mode": "medium"},
            "add's 'mode' must be one of ['fast', 'slow'], not 'medium'",
        ),
        ({"a": 1, "tags": None, "c": 3}, "add takes no argument 'c' (it takes: a, b, tags, mode)"),
        ({}, "add needs the argument 'a'"),
        ({"b": 2}, "add needs the argument 'a'"),
        ({"a": None}, "add's 'a' must be an integer, not None"),  # required: no default
        ({"a": 1, "c": 3}, "add takes no argument 'c' (it takes: a, b, tags, mode)"),
        ({"a": "1"}, "add's 'a' must be an integer, not '1'"),
        ({"a": 1.0}, "add's 'a' must be an integer, not 1.0"),
        ({"a": True}, "add's 'a' must be an integer, not True"),
        ({"a": 1, "tags": "x"}, "add's 'tags' must be an array, not 'x'"),
        ({"a": 1, "tags": ["x", 2]}, "add's 'tags'[1] must be a string, not 2"),
        ({"a": 1, "tags": [3, "x"]}, "add's 'tags'[0] must be a string, not 3"),
        ({"a": 1, "mode": "medium"}, "add's 'mode' must be one of ['fast', 'slow'], not 'medium'"),
        ({"a": 1, "mode": 1}, "add's 'mode' must be a string, not 1"),
    ],
)
def test_the_arguments_of_a_declared_tool(args: dict[str, Any], problem: str | None) -> None:
    assert argument_problem(ADD, args) == problem


def test_the_first_problem_is_told_in_the_order_the_arguments_came() -> None:
    args = {"a": 1, "b": "two", "zzz": 3}
    assert argument_problem(ADD, args) == "add's 'b' must be an integer, not 'two'"
    args = {"zzz": 3, "a": 1, "b": "two"}
    assert argument_problem(ADD, args) == "add takes no argument 'zzz' (it takes: a, b, tags, mode)"


def test_a_missing_argument_is_told_before_an_unknown_one() -> None:
    assert argument_problem(ADD, {"zzz": 3}) == "add needs the argument 'a'"


def test_each_missing_required_argument_is_found_in_declared_order() -> None:
    tool = declared(
        {"properties": {"x": {"type": "string"}, "y": {"type": "string"}}, "required": ["x", "y"]},
        name="pair",
    )
    assert argument_problem(tool, {}) == "pair needs the argument 'x'"
    assert argument_problem(tool, {"x": "1"}) == "pair needs the argument 'y'"
    assert argument_problem(tool, {"y": "1"}) == "pair needs the argument 'x'"
    assert argument_problem(tool, {"x": "1", "y": "2"}) is None


def test_a_tool_without_parameters_takes_none() -> None:
    tool = declared({}, name="hang_up")
    assert argument_problem(tool, {}) is None
    assert argument_problem(tool, {"why": "bye"}) == (
        "hang_up takes no argument 'why' (it takes: none)"
    )


def test_a_declaration_without_required_makes_every_argument_optional() -> None:
    tool = declared({"properties": {"x": {"type": "integer"}}}, name="t")
    assert argument_problem(tool, {}) is None
    assert argument_problem(tool, {"x": None}) is None
    assert argument_problem(tool, {"x": 2}) is None
    assert argument_problem(tool, {"x": "2"}) == "t's 'x' must be an integer, not '2'"


@pytest.mark.parametrize(
    ("kind", "good", "bad", "article"),
    [
        ("string", "s", 1, "a"),
        ("integer", 3, 3.5, "an"),
        ("number", 3.5, "3.5", "a"),
        ("boolean", False, 0, "a"),
        ("array", [1], (1,), "an"),
        ("object", {"k": 1}, [("k", 1)], "an"),
    ],
)
def test_each_json_type(kind: str, good: object, bad: object, article: str) -> None:
    assert value_problem(good, {"type": kind}, "w") is None
    assert value_problem(bad, {"type": kind}, "w") == f"w must be {article} {kind}, not {bad!r}"


@pytest.mark.parametrize("kind", ["integer", "number"])
@pytest.mark.parametrize("flag", [True, False])
def test_a_bool_is_no_number_to_json(kind: str, flag: bool) -> None:
    article = "an" if kind == "integer" else "a"
    assert value_problem(flag, {"type": kind}, "w") == f"w must be {article} {kind}, not {flag!r}"
    assert value_problem(flag, {"type": "boolean"}, "w") is None


def test_an_integer_is_a_number() -> None:
    assert value_problem(7, {"type": "number"}, "w") is None


@pytest.mark.parametrize(
    "schema",
    [{}, {"type": "null-or-whatever"}, {"type": ["string", "null"]}, {"type": None}],
)
@pytest.mark.parametrize("value", ["s", 1, 1.5, True, None, [1], {"k": 1}])
def test_an_unknown_or_missing_type_allows_any_value(schema: dict[str, Any], value: Any) -> None:
    assert value_problem(value, schema, "w") is None


def test_an_enum_without_a_type_is_still_checked() -> None:
    schema = {"enum": [1, "one"]}
    assert value_problem(1, schema, "w") is None
    assert value_problem("one", schema, "w") is None
    assert value_problem(2, schema, "w") == "w must be one of [1, 'one'], not 2"


def test_the_type_is_told_before_the_enum() -> None:
    schema = {"type": "integer", "enum": [1, 2]}
    assert value_problem("1", schema, "w") == "w must be an integer, not '1'"
    assert value_problem(3, schema, "w") == "w must be one of [1, 2], not 3"
    assert value_problem(2, schema, "w") is None


def test_the_items_of_an_array_are_checked_deep() -> None:
    schema = {"type": "array", "items": {"type": "array", "items": {"type": "integer"}}}
    assert value_problem([[1], [2, 3]], schema, "w") is None
    assert value_problem([], schema, "w") is None
    assert value_problem([[1], [2, "3"]], schema, "w") == "w[1][1] must be an integer, not '3'"
    assert value_problem([[1], 2], schema, "w") == "w[1] must be an array, not 2"


def test_an_items_enum_is_checked_per_item() -> None:
    schema = {"type": "array", "items": {"type": "string", "enum": ["a", "b"]}}
    assert value_problem(["a", "b", "a"], schema, "w") is None
    assert value_problem(["a", "c"], schema, "w") == "w[1] must be one of ['a', 'b'], not 'c'"


@pytest.mark.parametrize("items", [None, "string", [{"type": "string"}]])
def test_an_array_without_an_items_schema_takes_any_items(items: object) -> None:
    schema: dict[str, Any] = {"type": "array"}
    if items is not None:
        schema["items"] = items
    assert value_problem([1, "x", None, [2]], schema, "w") is None


def test_items_are_only_looked_at_for_an_array() -> None:
    # a non-array with an items schema: the items are never looked at
    schema = {"type": "string", "items": {"type": "integer"}}
    assert value_problem("abc", schema, "w") is None
    untyped = {"items": {"type": "integer"}}
    assert value_problem(["x"], untyped, "w") is None
    assert value_problem("xyz", untyped, "w") is None


JSON_VALUES: st.SearchStrategy[object] = st.one_of(
    st.text(max_size=5),
    st.integers(),
    st.floats(allow_nan=False),
    st.booleans(),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


def json_type_of(value: object) -> set[str]:
    """The JSON types a Python value (as json.loads makes it) belongs to."""
    if isinstance(value, bool):
        return {"boolean"}
    if isinstance(value, int):
        return {"integer", "number"}
    if isinstance(value, float):
        return {"number"}
    if isinstance(value, str):
        return {"string"}
    return {"array"} if isinstance(value, list) else {"object"}


@given(JSON_VALUES, st.sampled_from(sorted(JSON_TYPES)))
def test_a_value_fits_a_type_exactly_when_it_is_of_that_json_type(value: object, kind: str) -> None:
    problem = value_problem(value, {"type": kind}, "w")
    if kind in json_type_of(value):
        assert problem is None
    else:
        article = "an" if kind in ("integer", "array", "object") else "a"
        assert problem == f"w must be {article} {kind}, not {value!r}"
