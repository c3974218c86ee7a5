"""An example tool module: set TOOL_MODULES=app.tools.examples to try it.

Each public ``async def`` here becomes a tool. The model sees the docstring's first
paragraph as the tool's description and the ``Args:`` lines as its parameters'
descriptions; the type hints become the JSON schema. Return anything JSON-friendly;
raise to report a failure (the model gets a structured error and the call goes on).
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from app.tools import tool

Day = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]

_HOURS = {"saturday": ("10:00", "16:00"), "sunday": None}
_ORDERS = {"A1001": "shipped on Monday; arriving Thursday", "A1002": "being packed"}


async def opening_hours(day: Day) -> dict[str, str | bool]:
    """Tell when the store is open on a given day of the week.

    Args:
        day: The day of the week, in lower case.
    """
    hours = _HOURS.get(day, ("09:00", "18:00"))
    if hours is None:
        return {"day": day, "open": False}
    return {"day": day, "open": True, "opens": hours[0], "closes": hours[1]}


@tool(non_blocking=True, scheduling="WHEN_IDLE")
async def order_status(order_id: str) -> str:
    """Look up where a customer's order is.

    Args:
        order_id: The order number the caller reads out, like A1001.
    """
    status = _ORDERS.get(order_id.strip().upper())
    if status is None:
        raise LookupError(f"no order {order_id!r}; ask the caller to check the number")
    return status


async def current_time(timezone_offset_hours: float = 0.0) -> str:
    """The current date and time, for questions like "are you open now?".

    Args:
        timezone_offset_hours: Offset from UTC of the caller's time zone, in hours.
    """
    zone = dt.timezone(dt.timedelta(hours=timezone_offset_hours))
    return dt.datetime.now(zone).strftime("%A %d %B %Y, %H:%M")
