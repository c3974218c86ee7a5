"""Loading TOOL_MODULES: a module of ours named by its old path still loads, with a
warning naming the new one, so a deployment's settings survive the package layout."""

from __future__ import annotations

import importlib
import logging
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from app.errors import ToolDefinitionError
from app.tools.loading import load_tools


def test_the_old_example_path_loads_the_examples_and_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="app.tools.loading"):
        old = load_tools(["app.example_tools"])
    assert [t.name for t in old] == [t.name for t in load_tools(["app.tools.examples"])]
    assert [r.getMessage() for r in caplog.records] == [
        "TOOL_MODULES: app.example_tools is now app.tools.examples;"
        " loading that (rename it in your settings)"
    ]


def test_a_module_named_twice_under_both_paths_is_refused() -> None:
    with pytest.raises(ToolDefinitionError, match="tool names used twice"):
        load_tools(["app.example_tools", "app.tools.examples"])


def test_the_duplicate_names_are_listed_in_order() -> None:
    with pytest.raises(ToolDefinitionError) as refused:
        load_tools(["app.tools.examples", "app.tools.examples"])
    assert str(refused.value) == (
        "TOOL_MODULES: tool names used twice: current_time, opening_hours, order_status"
    )


# Operators' modules, written for each test into a directory put on sys.path.


@pytest.fixture
def write_module(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[[str, str], str]]:
    """Write a module (name, source) importable by that name; forgotten afterwards."""
    written: list[str] = []

    def write(name: str, source: str) -> str:
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(source), encoding="utf-8")
        importlib.invalidate_caches()
        written.append(name)
        return name

    monkeypatch.syspath_prepend(str(tmp_path))
    yield write
    for name in written:
        sys.modules.pop(name, None)


def test_a_module_that_fails_as_it_is_imported_is_named_with_its_error(
    write_module: Callable[[str, str], str],
) -> None:
    path = write_module("faulty_tools", "raise ValueError('the price list is missing')\n")
    with pytest.raises(ToolDefinitionError) as refused:
        load_tools([path])
    assert str(refused.value) == (
        "TOOL_MODULES: importing 'faulty_tools' failed with ValueError: the price list is"
        " missing; fix the module or take it out of TOOL_MODULES"
    )


def test_a_missing_module_is_refused_with_the_import_error() -> None:
    with pytest.raises(ToolDefinitionError) as refused:
        load_tools(["app.no_such_tools"])
    assert str(refused.value) == (
        "TOOL_MODULES: cannot import 'app.no_such_tools': No module named 'app.no_such_tools'"
    )


def test_a_module_offers_its_tools_list_in_its_order(
    write_module: Callable[[str, str], str],
) -> None:
    path = write_module(
        "listed_tools",
        '''
        async def left_out() -> None:
            """Not in TOOLS."""


        async def second() -> None:
            """Listed last."""


        async def _first() -> None:
            """Private, but listed."""


        TOOLS = [_first, second]
        ''',
    )
    assert [t.name for t in load_tools([path])] == ["_first", "second"]


def test_without_a_list_a_module_offers_its_own_public_async_functions(
    write_module: Callable[[str, str], str],
) -> None:
    path = write_module(
        "unlisted_tools",
        '''
        from app.tools.examples import current_time  # another module's: not offered


        async def _helper() -> None:
            """Private."""


        def sync_helper() -> None:
            """Not async."""


        async def greet(name: str) -> str:
            """Greet the caller.

            Args:
                name: The caller's name.
            """
            return name
        ''',
    )
    [greet] = load_tools([path])
    assert greet.name == "greet"
    assert greet.parameters["properties"] == {
        "name": {"type": "string", "description": "The caller's name."}
    }


@pytest.mark.parametrize(
    "source",
    [
        "def helper() -> None:\n    pass\n",  # no async function
        "async def tool() -> None:\n    'A tool.'\n\nTOOLS = []\n",  # an empty list
    ],
)
def test_a_module_without_tools_is_refused(
    write_module: Callable[[str, str], str], source: str
) -> None:
    path = write_module("toolless", source)
    with pytest.raises(ToolDefinitionError) as refused:
        load_tools([path])
    assert str(refused.value) == "TOOL_MODULES: 'toolless' defines no async functions"
