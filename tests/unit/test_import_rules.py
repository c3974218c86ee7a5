"""The layout's rules, read from the code's own imports (docs/architecture.md):

- pure modules (the call's machines, wire formats, audio, tokens) import no I/O: no
  asyncio, no web framework, no SDK, no sockets, files' databases or threads, and only
  other pure modules of the project;
- only the Gemini adapter (app/agent/gemini/config.py and session.py) imports google-genai;
- the call (app/call) imports no server, Gemini or storage code;
- the sinks import no server code; nothing but the entry points imports the server.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.support.layers import marked_edge, module_paths, pure_modules

PURE = pure_modules()
# What a pure module may not import (the standard library's I/O and the I/O libraries).
IMPURE = (
    "asyncio",
    "socket",
    "sqlite3",
    "threading",
    "subprocess",
    "concurrent",
    "multiprocessing",
    "ssl",
    "starlette",
    "uvicorn",
    "websockets",
    "httpx",
    "aiohttp",
    "google",
    "twilio",
    "prometheus_client",
    "soxr",
    "redis",
    "psycopg",
)
SDK_USERS = {"app.agent.gemini.config", "app.agent.gemini.session"}
ENTRY_POINTS = {"app.main", "app.__main__", "app.ops.cli", "app.ops.replay"}


def imports_of(path: Path) -> set[str]:
    """Every module ``path`` imports, at any depth of its code (TYPE_CHECKING aside)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            node.body = []  # annotations only: no import at run time
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


PATHS = module_paths()
GRAPH = {module: imports_of(path) for module, path in PATHS.items()}


def project_imports(module: str) -> set[str]:
    return {name for name in GRAPH[module] if name in GRAPH}


def test_the_rules_see_the_whole_package() -> None:
    assert set(GRAPH) >= PURE, PURE - set(GRAPH)
    assert set(GRAPH) >= SDK_USERS
    assert len(GRAPH) > 60
    # The call's machines, wire formats, audio and tokens are pure by the layout alone.
    assert {"app.call.core", "app.call.ledger", "app.telephony.wire", "app.audio.convert"} <= PURE
    assert {"app.call.bridge", "app.server.app", "app.sinks.records"}.isdisjoint(PURE)


def does_io(module: str, seen: frozenset[str] = frozenset()) -> bool:
    """Does ``module`` import an I/O library, itself or through the project's modules?"""
    if any(name.split(".")[0] in IMPURE for name in GRAPH[module]):
        return True
    return any(
        does_io(name, seen | {module})
        for name in project_imports(module) - seen - {module}
        if name not in PURE
    )


@pytest.mark.parametrize("module", sorted(m for m, p in PATHS.items() if marked_edge(p)))
def test_a_module_marked_edge_does_io(module: str) -> None:
    """The marker is not a way out of the rules: a module with no I/O must be pure."""
    assert does_io(module), f"{module} does no I/O: remove its '# edge:' line"


@pytest.mark.parametrize("module", sorted(PURE))
def test_pure_modules_do_no_io(module: str) -> None:
    outside = {name for name in GRAPH[module] if name.split(".")[0] in IMPURE}
    assert not outside, f"{module} imports {sorted(outside)}"
    # A package's own name (from app.telephony import wire) is pure when its
    # __init__ imports nothing.
    impure_project = {name for name in project_imports(module) - PURE - {module} if GRAPH[name]}
    assert not impure_project, f"{module} imports the impure {sorted(impure_project)}"


def test_only_the_gemini_adapter_imports_the_sdk() -> None:
    users = {m for m, names in GRAPH.items() if any(n.startswith("google.genai") for n in names)}
    users |= {m for m, names in GRAPH.items() if "google" in names and "genai" in str(names)}
    assert users == SDK_USERS


@pytest.mark.parametrize("module", sorted(m for m in GRAPH if m.startswith("app.call")))
def test_the_call_imports_no_server_gemini_or_storage(module: str) -> None:
    forbidden = ("app.server", "app.agent.gemini", "app.sinks", "app.ops")
    bad = {name for name in GRAPH[module] if name.startswith(forbidden)}
    assert not bad, f"{module} imports {sorted(bad)}"


def test_only_the_entry_points_import_the_server() -> None:
    importers = {
        m
        for m, names in GRAPH.items()
        if not m.startswith("app.server") and any(n.startswith("app.server") for n in names)
    }
    assert importers <= ENTRY_POINTS, importers - ENTRY_POINTS
    sinks = {m for m in GRAPH if m.startswith("app.sinks")}
    assert not {n for m in sinks for n in GRAPH[m] if n.startswith("app.server")}
