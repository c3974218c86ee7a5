"""Text from outside made safe to show: in a terminal, a log line, an API answer. Pure.

Control characters (C0, DEL, C1: newlines, ESC, CSI), the bidirectional overrides and
isolates (which reorder what a terminal or editor shows), and the Unicode line and
paragraph separators become visible escapes (``\\x1b``, ``\\u202e``), so a value a
caller or client chose can neither forge a line, nor retitle, clear or link an
operator's terminal, nor hide text behind reordering.
"""

from __future__ import annotations

import re

ESCAPE, ASCII = "unicode_escape", "ascii"  # the codecs that spell a character out
UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    return UNSAFE.sub(lambda m: m.group().encode(ESCAPE).decode(ASCII), text)


def printable_values(value: object) -> object:
    """Every string inside ``value`` (dicts, lists, tuples) made printable."""
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, dict):
        return {printable(str(k)): printable_values(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [printable_values(v) for v in value]
    return value
