"""A secret being rotated: the previous value is accepted beside the current one, until
its stated end, and never after (app/rotation.py)."""

from __future__ import annotations

import pytest

from app.rotation import Rotating

ROTATING = Rotating("new-secret", "old-secret", previous_until=1000.0)


@pytest.mark.parametrize(
    ("rotating", "now", "values"),
    [
        (ROTATING, 999.9, ("new-secret", "old-secret")),
        (ROTATING, 1000.0, ("new-secret",)),  # the end itself: over
        (ROTATING, 5000.0, ("new-secret",)),
        (Rotating("new-secret"), 0.0, ("new-secret",)),
        (Rotating("new-secret", "", 1000.0), 0.0, ("new-secret",)),  # an empty previous
    ],
)
def test_the_values_accepted(rotating: Rotating, now: float, values: tuple[str, ...]) -> None:
    assert rotating.values(now) == values


@pytest.mark.parametrize(
    ("supplied", "now", "ok"),
    [
        ("new-secret", 0.0, True),
        ("new-secret", 9999.0, True),
        ("old-secret", 999.0, True),
        ("old-secret", 1000.0, False),
        ("old-secre", 0.0, False),
        ("", 0.0, False),
        ("other", 0.0, False),
    ],
)
def test_matches(supplied: str, now: float, ok: bool) -> None:
    assert ROTATING.matches(supplied, now) is ok
