"""How a call ended and what its media socket's close says: the codes per outcome, and
the close reason kept within the bytes a close frame carries. Table-driven, plus
reasons from hypothesis."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.call.outcome import (
    APOLOGY_OUTCOMES,
    CLOSE_CODES,
    MAX_REASON_BYTES,
    CloseCode,
    Outcome,
    close_reason,
    outcome_of,
)

ELLIPSIS = "…"  # three bytes in UTF-8


@pytest.mark.parametrize(
    ("outcome", "value", "code"),
    [
        (Outcome.COMPLETED, "completed", 1000),
        (Outcome.AGENT_FAILED, "agent_failed", 1000),
        (Outcome.AGENT_SILENT, "agent_silent", 1000),
        (Outcome.NO_START, "no_start", 1008),
        (Outcome.REFUSED, "refused", 1008),
        (Outcome.PROTOCOL_VIOLATION, "protocol_violation", 1008),
        (Outcome.INTERNAL_ERROR, "internal_error", 1011),
    ],
)
def test_each_outcome_closes_with_its_code(outcome: Outcome, value: str, code: int) -> None:
    assert outcome.value == value
    assert CLOSE_CODES[outcome] == code


def test_every_outcome_has_a_close_code_and_the_codes_are_the_rfc_ones() -> None:
    assert set(CLOSE_CODES) == set(Outcome)
    assert [int(c) for c in CloseCode] == [1000, 1008, 1009, 1011]


def test_only_the_servers_own_failures_earn_the_apology() -> None:
    expected = {Outcome.AGENT_FAILED, Outcome.AGENT_SILENT, Outcome.INTERNAL_ERROR}
    assert frozenset(expected) == APOLOGY_OUTCOMES


def test_a_close_frame_carries_at_most_123_bytes_of_reason() -> None:
    assert MAX_REASON_BYTES == 123  # 125 bytes of control payload less the 2-byte code


@pytest.mark.parametrize(
    ("outcome", "reason", "text"),
    [
        (Outcome.COMPLETED, "", "completed"),
        (Outcome.REFUSED, "bad stream token", "refused: bad stream token"),
        (Outcome.AGENT_FAILED, "x", "agent_failed: x"),
    ],
)
def test_the_reason_follows_the_outcome(outcome: Outcome, reason: str, text: str) -> None:
    assert close_reason(outcome, reason) == text


def test_a_reason_that_just_fits_is_kept_whole() -> None:
    prefix = "no_start: "
    fits = "a" * (MAX_REASON_BYTES - len(prefix))
    assert close_reason(Outcome.NO_START, fits) == prefix + fits
    assert close_reason(Outcome.NO_START, fits + "b") == prefix + "a" * 110 + ELLIPSIS


def test_a_long_reason_is_cut_to_exactly_the_limit_with_an_ellipsis() -> None:
    text = close_reason(Outcome.INTERNAL_ERROR, "e" * 500)
    assert text == "internal_error: " + "e" * 104 + ELLIPSIS
    assert len(text.encode()) == MAX_REASON_BYTES


def test_a_character_cut_in_half_is_dropped_not_garbled() -> None:
    # "refused: " is 9 bytes; 111 bytes of "é" (2 bytes each) end mid-character at 120
    text = close_reason(Outcome.REFUSED, "é" * 100)
    assert text == "refused: " + "é" * 55 + ELLIPSIS
    assert len(text.encode()) == MAX_REASON_BYTES - 1


@given(st.sampled_from(Outcome), st.text(max_size=200))
def test_any_reason_fits_a_close_frame_and_keeps_its_start(outcome: Outcome, reason: str) -> None:
    text = close_reason(outcome, reason)
    assert len(text.encode()) <= MAX_REASON_BYTES
    whole = f"{outcome.value}: {reason}" if reason else outcome.value
    if len(whole.encode()) <= MAX_REASON_BYTES:
        assert text == whole
    else:
        assert text.endswith(ELLIPSIS)
        assert whole.startswith(text.removesuffix(ELLIPSIS))
        assert len(text.encode()) >= MAX_REASON_BYTES - 3


@pytest.mark.parametrize(
    ("reason", "outcome"),
    [
        ("completed", Outcome.COMPLETED),
        ("agent_failed: the session failed: 1007", Outcome.AGENT_FAILED),
        ("internal_error: boom", Outcome.INTERNAL_ERROR),
        ("refused:no capacity", Outcome.REFUSED),
        ("", None),
        ("going away", None),
        ("completedx: y", None),
        ("Completed", None),
    ],
)
def test_the_outcome_is_read_back_from_the_close_reason(
    reason: str, outcome: Outcome | None
) -> None:
    assert outcome_of(reason) is outcome


@given(st.sampled_from(list(Outcome)), st.text(max_size=200))
def test_every_reason_written_reads_back_as_its_outcome(outcome: Outcome, reason: str) -> None:
    assert outcome_of(close_reason(outcome, reason)) is outcome
