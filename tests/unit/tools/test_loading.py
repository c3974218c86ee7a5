"""Loading TOOL_MODULES: a module of ours named by its old path still loads, with a
warning naming the new one, so a deployment's settings survive the package layout."""

from __future__ import annotations

import logging

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


def test_another_missing_module_is_named() -> None:
    with pytest.raises(ToolDefinitionError, match=r"cannot import 'app\.no_such_tools'"):
        load_tools(["app.no_such_tools"])
