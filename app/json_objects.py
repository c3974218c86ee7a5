"""A JSON object from a frame or a body, or why there is none. Pure."""

from __future__ import annotations

import json
from typing import Any

from app.errors import PhonebotError


class NotAnObject(PhonebotError):
    """``reason`` is "not valid JSON" or "not a JSON object"."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def json_object(data: str | bytes | bytearray) -> dict[str, Any]:
    """The object ``data`` holds; :class:`NotAnObject` for anything else (a list, a number,
    text that is not JSON, or JSON nested deeper than the parser recurses)."""
    try:
        value = json.loads(data)
    except (ValueError, RecursionError):
        raise NotAnObject("not valid JSON") from None
    if not isinstance(value, dict):
        raise NotAnObject("not a JSON object")
    return value
