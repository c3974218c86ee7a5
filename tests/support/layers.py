"""Which modules of the package are pure, read from the layout (docs/architecture.md).

A module is pure (no I/O: no asyncio, sockets, files' databases, threads, web
framework or SDK, and only pure modules of the project) unless it is

- in an edge package (``app/server``: HTTP; ``app/sinks``: storage and metrics;
  ``app/ops``: operator commands), or an entry point (``app/main.py``,
  ``app/__main__.py``); or
- marked at the top of its file with a line ``# edge: <why it does I/O>``.

So a new module is checked as pure without anyone remembering to list it; doing I/O
outside the edge packages takes a marker that says why, where a reviewer sees it.
"""

from __future__ import annotations

import re
from pathlib import Path

APP = Path(__file__).resolve().parents[2] / "app"
EDGE_PACKAGES = ("app.server", "app.sinks", "app.ops")
ENTRY_POINTS = frozenset({"app.main", "app.__main__"})
EDGE_MARK = re.compile(r"^# edge: \S", re.M)
HEAD_LINES = 30  # the marker must be where a reader starts


def module_name(path: Path) -> str:
    parts = path.relative_to(APP.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def module_paths() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(APP.rglob("*.py"))}


def marked_edge(path: Path) -> bool:
    head = "\n".join(path.read_text(encoding="utf-8").splitlines()[:HEAD_LINES])
    return EDGE_MARK.search(head) is not None


def in_edge_package(module: str) -> bool:
    return module in ENTRY_POINTS or module.startswith(tuple(p + "." for p in EDGE_PACKAGES))


def pure_modules() -> set[str]:
    return {
        module
        for module, path in module_paths().items()
        if not in_edge_package(module) and not marked_edge(path)
    }


def own_tests(module: str) -> Path:
    """Where a module's own unit tests live: app/x/y.py → tests/unit/x/test_y.py."""
    parts = module.split(".")[1:]
    return APP.parent / "tests" / "unit" / Path(*parts[:-1]) / f"test_{parts[-1]}.py"
