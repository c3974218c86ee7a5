"""Tools for the tests: one slow, two failing, one fine."""

from __future__ import annotations

import asyncio

from app.tools import tool

started: list[str] = []
finished: list[str] = []


async def slow_lookup(topic: str, seconds: float = 5.0) -> str:
    """Look something up slowly.

    Args:
        topic: What to look up.
        seconds: How long it takes.
    """
    started.append(topic)
    await asyncio.sleep(seconds)
    finished.append(topic)
    return f"all about {topic}"


async def broken(flag: bool) -> str:
    """Always fails."""
    raise RuntimeError("the database is down")


@tool(non_blocking=True, scheduling="SILENT")
async def add(a: int, b: int = 1, tags: list[str] | None = None) -> int:
    """Add two numbers.

    Args:
        a: The first number.
        b: The second number,
            which defaults to one.
        tags: Labels, ignored.
    """
    return a + b


async def shout(text: str) -> str:
    """Repeat the text loudly (a bug in it raises TypeError)."""
    return text + 1  # type: ignore[operator, no-any-return]  # the tool's own bug


TOOLS = [slow_lookup, broken, add, shout]
