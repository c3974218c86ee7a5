"""How far apart two spellings are, and which known names are closest to a mistyped one.
Pure: the settings' names, the model and voice names use it for their "did you mean"."""

from __future__ import annotations

from collections.abc import Iterable


def distance(a: str, b: str) -> int:
    """The fewest edits that turn ``a`` into ``b``: a character inserted, deleted or
    replaced, or two neighbours swapped (the optimal string alignment distance)."""
    before: list[int] = []
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, start=1):
        current = [i] + [0] * len(b)
        for j, char_b in enumerate(b, start=1):
            current[j] = min(
                previous[j] + 1,  # delete char_a
                current[j - 1] + 1,  # insert char_b
                previous[j - 1] + (char_a != char_b),  # keep or replace
            )
            if i > 1 and j > 1 and char_a == b[j - 2] and a[i - 2] == char_b:
                current[j] = min(current[j], before[j - 2] + 1)  # swap the two
        before, previous = previous, current
    return previous[-1]


def nearness(name: str, known: str) -> int:
    """``distance``, except that a name which only adds to the other's end, or stops
    short of it, counts as one edit more than its common part (``gemini-3.8-live-preview``
    is near ``gemini-3.8-live``, ``gemini-2.5-flash`` near ``gemini-2.5-flash-native…``)."""
    return min(
        distance(name, known),
        1 + distance(name[: len(known)], known),
        1 + distance(name, known[: len(name)]),
    )


def closest(name: str, known: Iterable[str], *, limit: int = 3) -> list[str]:
    """Up to ``limit`` of ``known``, nearest to ``name`` first (case ignored; ties in
    alphabetical order)."""
    folded = name.casefold()
    ranked = sorted((nearness(folded, k.casefold()), k) for k in set(known))
    return [k for _, k in ranked[:limit]]


def one_of(names: list[str]) -> str:
    """``A``, ``A or B``, ``A, B or C``."""
    if len(names) < 2:
        return "".join(names)
    return f"{', '.join(names[:-1])} or {names[-1]}"
