"""The playback ledger: marks say what was heard; a clear makes pending marks stale."""

from __future__ import annotations

from app.call.ledger import PlaybackLedger


def test_heard_time_follows_the_marks_that_came_back() -> None:
    ledger = PlaybackLedger()
    first = ledger.audio_sent(1, 40)
    second = ledger.audio_sent(1, 40)
    assert ledger.turn(1).sent_ms == 80 and ledger.turn(1).heard_ms == 0
    ledger.mark_received(first)
    assert ledger.turn(1).heard_ms == 40
    ledger.mark_received(second)
    assert ledger.turn(1).heard_ms == 80
    assert ledger.pending_marks == 0


def test_marks_echoed_by_a_clear_do_not_count_as_heard() -> None:
    ledger = PlaybackLedger()
    names = [ledger.audio_sent(1, 20) for _ in range(5)]
    ledger.mark_received(names[0])
    cut = ledger.cleared(1)
    assert cut is not None and cut.interrupted
    for name in names[1:]:  # Twilio echoes every pending mark at once after a clear
        assert ledger.mark_received(name) is None
    assert ledger.turn(1).heard_ms == 20
    assert ledger.turn(1).sent_ms == 100
    assert ledger.stale_marks == 4


def test_mark_names_carry_generation_and_turn() -> None:
    ledger = PlaybackLedger()
    assert ledger.audio_sent(1, 20).startswith("g0-t1-")
    ledger.cleared(1)
    name = ledger.audio_sent(2, 20)
    assert name.startswith("g1-t2-")
    assert ledger.mark_received(name) is not None
    assert ledger.turn(2).heard_ms == 20


def test_unknown_marks_are_counted_not_trusted() -> None:
    ledger = PlaybackLedger()
    assert ledger.mark_received("someone-else") is None
    assert ledger.unknown_marks == 1


def test_clear_with_no_turn_is_harmless() -> None:
    ledger = PlaybackLedger()
    assert ledger.cleared(None) is None
    assert ledger.generation == 1
