"""Spelling distance and the closest known names: exact distances for each kind of
edit, the prefix rule that makes a longer or shorter model name near, and properties
of the distance from hypothesis."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.spelling import closest, distance, nearness, one_of

NAMES = st.text(alphabet="ABCDE_", max_size=8)


@pytest.mark.parametrize(
    ("a", "b", "edits"),
    [
        ("", "", 0),
        ("", "ABC", 3),
        ("ABC", "", 3),
        ("PORT", "PORT", 0),
        ("PORT", "PORTS", 1),  # one added
        ("PORTS", "PORT", 1),  # one dropped
        ("PORT", "PART", 1),  # one replaced
        ("OPERATER_TOKEN", "OPERATOR_TOKEN", 1),
        ("GEMINI_VOCIE", "GEMINI_VOICE", 1),  # two neighbours swapped: one edit
        ("AB", "BA", 1),
        ("ABC", "CBA", 2),  # not neighbours: two replacements
        ("CA", "ABC", 3),  # optimal string alignment, not full Damerau (which says 2)
        ("ENABLE_SOFTFONE", "ENABLE_SOFTPHONE", 2),
        ("LOGLEVEL", "LOG_LEVEL", 1),
        ("kitten", "sitting", 3),
        ("ABCD", "ACBD", 1),
        ("XABCD", "XACBD", 1),
        ("ABCDX", "ACBDX", 1),
    ],
)
def test_distance_counts_each_kind_of_edit(a: str, b: str, edits: int) -> None:
    assert distance(a, b) == edits
    assert distance(b, a) == edits


@given(NAMES, NAMES)
def test_distance_is_symmetric_and_bounded(a: str, b: str) -> None:
    assert distance(a, b) == distance(b, a)
    assert abs(len(a) - len(b)) <= distance(a, b) <= max(len(a), len(b))
    assert (distance(a, b) == 0) == (a == b)


@given(NAMES, NAMES, NAMES)
def test_distance_obeys_the_triangle_for_single_insertions(a: str, b: str, c: str) -> None:
    assert distance(a, a + c) == len(c)
    assert distance(c + a, a) == len(c)


@pytest.mark.parametrize(
    ("name", "known", "score"),
    [
        ("gemini-3.8-live-preview", "gemini-3.8-live", 1),  # adds to its end
        ("gemini-2.5-flash", "gemini-2.5-flash-native-audio", 1),  # stops short of it
        ("gemni-3.8-live", "gemini-3.8-live", 1),  # a plain edit
        ("abc", "abc", 0),
        ("abx", "abcdef", 2),  # the common part has one edit, plus one for the rest
        ("abcdef", "abx", 2),
        ("xyz", "abc", 3),
    ],
)
def test_nearness_forgives_a_longer_or_shorter_end(name: str, known: str, score: int) -> None:
    assert nearness(name, known) == score


def test_closest_ranks_nearest_first_ignoring_case_and_ties_alphabetically() -> None:
    voices = ["Kore", "Puck", "Charon", "Orus", "Aoede"]
    assert closest("kore", voices) == ["Kore", "Aoede", "Orus"]  # 3 edits each: A before O
    assert closest("KOREE", voices, limit=1) == ["Kore"]
    assert closest("zz", ["bb", "aa", "cc"], limit=2) == ["aa", "bb"]
    assert closest("x", ["a", "a"], limit=5) == ["a"]  # each once
    assert closest("x", []) == []


@pytest.mark.parametrize(
    ("names", "text"),
    [([], ""), (["A"], "A"), (["A", "B"], "A or B"), (["A", "B", "C"], "A, B or C")],
)
def test_one_of_joins_like_a_sentence(names: list[str], text: str) -> None:
    assert one_of(names) == text
