"""Loading the operator's tools: the modules named in TOOL_MODULES, imported at startup."""

from __future__ import annotations

import importlib
import inspect
import logging

from app.errors import ToolDefinitionError
from app.tools.declare import Tool, declare

log = logging.getLogger(__name__)

# Modules of ours that TOOL_MODULES may still name from before the package layout.
MOVED = {"app.example_tools": "app.tools.examples"}


def load_module_tools(module_path: str) -> list[Tool]:
    """Import ``module_path`` and declare its tools."""
    if module_path in MOVED:
        log.warning(
            "TOOL_MODULES: %s is now %s; loading that (rename it in your settings)",
            module_path,
            MOVED[module_path],
        )
        module_path = MOVED[module_path]
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
