"""Text from outside made safe to show (app/text.py): every control, bidirectional and
separator character escaped, everything else untouched."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.text import UNSAFE, printable, printable_values


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("+15550100001", "+15550100001"),
        ("Grüße, 你好 — ok", "Grüße, 你好 — ok"),
        ("a\nb\r\tc", "a\\nb\\r\\tc"),
        ("\x1b]0;pwned\x07", "\\x1b]0;pwned\\x07"),
        ("\x1b[2J", "\\x1b[2J"),
        ("\x7f\x80\x9b\x9f", "\\x7f\\x80\\x9b\\x9f"),
        ("\u202eevil\u202c", "\\u202eevil\\u202c"),
        ("\u2066x\u2069", "\\u2066x\\u2069"),
        ("\u200e\u200f", "\\u200e\\u200f"),
        ("line\u2028para\u2029", "line\\u2028para\\u2029"),
        ("\x00", "\\x00"),
        ("\xa0\u200b", "\xa0\u200b"),  # spaces that reorder nothing stay
    ],
)
def test_printable(text: str, shown: str) -> None:
    assert printable(text) == shown


@given(st.text())
def test_nothing_unsafe_survives_and_safe_text_is_untouched(text: str) -> None:
    shown = printable(text)
    assert not UNSAFE.search(shown)
    if not UNSAFE.search(text):
        assert shown == text


def test_printable_values_reaches_every_string() -> None:
    value = {"a\x1b": ["x\n", ("y\x07", 3)], "n": None, "f": 1.5, "ok": True}
    assert printable_values(value) == {
        "a\\x1b": ["x\\n", ["y\\x07", 3]],
        "n": None,
        "f": 1.5,
        "ok": True,
    }
