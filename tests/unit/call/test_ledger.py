"""The playback ledger: marks say what was heard; a clear makes pending marks stale.
Exact mark names and figures, table-driven, plus random sends, echoes and clears from
hypothesis."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.call.ledger import PlaybackLedger, TurnPlayback


def test_heard_time_follows_the_marks_that_came_back() -> None:
    ledger = PlaybackLedger()
    first = ledger.audio_sent(1, 40)
    second = ledger.audio_sent(1, 40)
    assert ledger.turn(1).sent_ms == 80 and ledger.turn(1).heard_ms == 0
    assert ledger.pending_marks == 2
    ledger.mark_received(first)
    assert ledger.turn(1).heard_ms == 40
    assert ledger.pending_marks == 1
    ledger.mark_received(second)
    assert ledger.turn(1).heard_ms == 80
    assert ledger.pending_marks == 0


def test_a_mark_acknowledges_exactly_what_was_sent_before_it() -> None:
    ledger = PlaybackLedger()
    marks = [ledger.audio_sent(3, ms) for ms in (20.0, 60.0, 100.0)]
    assert ledger.turn(3).sent_ms == 180.0
    assert [ledger.mark_received(m) for m in marks] == [ledger.turn(3)] * 3
    assert ledger.turn(3) == TurnPlayback(3, sent_ms=180.0, heard_ms=180.0)


def test_a_mark_returns_the_turn_it_advanced() -> None:
    ledger = PlaybackLedger()
    ledger.audio_sent(1, 20)
    mark = ledger.audio_sent(2, 30)
    advanced = ledger.mark_received(mark)
    assert advanced is ledger.turn(2)
    assert advanced == TurnPlayback(2, sent_ms=30, heard_ms=30)
    assert ledger.turn(1) == TurnPlayback(1, sent_ms=20, heard_ms=0)


def test_a_late_echo_of_an_earlier_mark_does_not_take_heard_time_back() -> None:
    ledger = PlaybackLedger()
    early = ledger.audio_sent(1, 20)
    late = ledger.audio_sent(1, 20)
    ledger.mark_received(late)
    ledger.mark_received(early)
    assert ledger.turn(1).heard_ms == 40


def test_a_mark_is_trusted_once() -> None:
    ledger = PlaybackLedger()
    mark = ledger.audio_sent(1, 20)
    assert ledger.mark_received(mark) is not None
    assert ledger.mark_received(mark) is None
    assert (ledger.unknown_marks, ledger.stale_marks) == (1, 0)


def test_turns_are_created_once_and_numbered() -> None:
    ledger = PlaybackLedger()
    created = ledger.turn(7)
    assert created == TurnPlayback(7)
    assert ledger.turn(7) is created
    assert list(ledger.turns) == [7]


def test_marks_echoed_by_a_clear_do_not_count_as_heard() -> None:
    ledger = PlaybackLedger()
    names = [ledger.audio_sent(1, 20) for _ in range(5)]
    ledger.mark_received(names[0])
    cut = ledger.cleared(1)
    assert cut is ledger.turn(1) and cut.interrupted
    assert ledger.pending_marks == 0
    assert ledger.cleared(1) is None and ledger.generation == 2  # cut once, not twice
    for name in names[1:]:  # Twilio echoes every pending mark at once after a clear
        assert ledger.mark_received(name) is None
    assert ledger.turn(1).heard_ms == 20
    assert ledger.turn(1).sent_ms == 100
    assert (ledger.stale_marks, ledger.unknown_marks) == (4, 0)


def test_mark_names_carry_generation_turn_and_a_sequence_across_both() -> None:
    ledger = PlaybackLedger()
    assert [ledger.audio_sent(1, 20), ledger.audio_sent(1, 20)] == ["g0-t1-1", "g0-t1-2"]
    assert ledger.audio_sent(2, 20) == "g0-t2-3"
    ledger.cleared(2)
    ledger.cleared(None)
    assert ledger.generation == 2
    name = ledger.audio_sent(2, 20)
    assert name == "g2-t2-4"
    assert ledger.mark_received(name) is not None
    assert ledger.turn(2).heard_ms == 40


@pytest.mark.parametrize(
    ("generation", "name", "stale", "unknown"),
    [
        (0, "someone-else", 0, 1),
        (0, "", 0, 1),
        (0, "g0-t1-99", 0, 1),  # this generation, but never sent
        (1, "g1-t1-1", 0, 1),
        (1, "g0-t1-1", 1, 0),  # sent before the clear
        (1, "g10-t1-1", 1, 0),  # not generation 1's
        (2, "g1-t1-1", 1, 0),
        (1, "G0-t1-1", 0, 1),
    ],
)
def test_unmatched_marks_are_counted_as_stale_or_unknown(
    generation: int, name: str, stale: int, unknown: int
) -> None:
    ledger = PlaybackLedger()
    for _ in range(generation):
        ledger.cleared(None)
    assert ledger.mark_received(name) is None
    assert (ledger.stale_marks, ledger.unknown_marks) == (stale, unknown)
    assert ledger.turns == {}


def test_stale_and_unknown_marks_add_up() -> None:
    ledger = PlaybackLedger()
    old = [ledger.audio_sent(1, 20) for _ in range(3)]
    ledger.cleared(1)
    for name in [*old, "x", "y"]:
        ledger.mark_received(name)
    assert (ledger.stale_marks, ledger.unknown_marks) == (3, 2)


def test_clear_cuts_off_only_the_turn_it_names() -> None:
    ledger = PlaybackLedger()
    ledger.audio_sent(1, 20)
    ledger.audio_sent(2, 20)
    assert ledger.cleared(2) is ledger.turn(2)
    assert ledger.turn(2).interrupted is True
    assert ledger.turn(1).interrupted is False


@pytest.mark.parametrize("turn", [None, 5])
def test_clear_with_no_known_turn_is_harmless(turn: int | None) -> None:
    ledger = PlaybackLedger()
    ledger.audio_sent(1, 20)
    assert ledger.cleared(turn) is None
    assert ledger.generation == 1
    assert ledger.pending_marks == 0
    assert list(ledger.turns) == [1] and not ledger.turn(1).interrupted


OPS = st.lists(
    st.one_of(
        st.tuples(st.just("send"), st.integers(1, 3), st.integers(1, 200)),
        st.tuples(st.just("echo"), st.integers(0, 30), st.just(0)),
        st.tuples(st.just("clear"), st.integers(0, 3), st.just(0)),
    ),
    max_size=40,
)


@given(OPS)
def test_heard_never_exceeds_sent_and_every_echo_is_accounted_for(
    ops: list[tuple[str, int, int]],
) -> None:
    ledger = PlaybackLedger()
    sent: list[str] = []
    echoes = advanced = 0
    for op, a, b in ops:
        if op == "send":
            sent.append(ledger.audio_sent(a, b))
        elif op == "echo" and sent:
            echoes += 1
            before = {t: p.heard_ms for t, p in ledger.turns.items()}
            advanced += ledger.mark_received(sent[a % len(sent)]) is not None
            assert all(ledger.turns[t].heard_ms >= ms for t, ms in before.items())
        elif op == "clear":
            ledger.cleared(a or None)
        for playback in ledger.turns.values():
            assert 0 <= playback.heard_ms <= playback.sent_ms
    assert len(set(sent)) == len(sent)
    assert advanced + ledger.stale_marks + ledger.unknown_marks == echoes
