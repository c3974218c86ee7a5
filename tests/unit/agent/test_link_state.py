"""The agent link's pure decisions: the caller buffer's bound and order, what the
session watch knows (handle, mid-reply, tools in flight, goAway's deadline), and the
retry backoff."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.agent.events import (
    AgentAudio,
    GenerationComplete,
    GoAway,
    Interrupted,
    ResumptionHandle,
    ToolCall,
    ToolCallCancelled,
    Transcript,
    TurnComplete,
    Usage,
)
from app.agent.link_state import (
    PCM16K_BYTES_PER_MS,
    CallerBuffer,
    LinkPolicy,
    LinkStats,
    SessionWatch,
    backoff,
)


def ms(n: float) -> bytes:
    """``n`` milliseconds of 16 kHz PCM16."""
    return b"\x01" * int(n * PCM16K_BYTES_PER_MS)


def buffer(bound_ms: float = 100.0) -> tuple[CallerBuffer, LinkStats]:
    stats = LinkStats()
    return CallerBuffer(bound_ms, stats), stats


def drain(buf: CallerBuffer) -> list[bytes | str]:
    items = []
    while buf:
        items.append(buf.first())
        buf.sent()
    return items


# -- the caller buffer


def test_an_empty_buffer_is_false_and_holds_nothing() -> None:
    buf, _ = buffer()
    assert bool(buf) is False
    assert buf.held_ms == 0.0
    buf.hold_text("hello")
    assert bool(buf) is True
    assert buf.held_ms == 0.0  # instructions take no time
    assert PCM16K_BYTES_PER_MS == 32


def test_items_come_out_in_the_order_they_went_in() -> None:
    buf, stats = buffer()
    a, b = ms(10), ms(20) + b"\x02"
    buf.hold_audio(a)
    buf.hold_text("one")
    buf.hold_audio(b)
    buf.hold_text("two")
    assert buf.first() == a
    assert drain(buf) == [a, "one", b, "two"]
    assert bool(buf) is False
    assert stats.audio_sent_bytes == len(a) + len(b)


def test_audio_up_to_the_bound_is_kept_and_beyond_it_the_oldest_is_dropped() -> None:
    buf, stats = buffer(bound_ms=100.0)
    first, second = ms(60), ms(40)
    buf.hold_audio(first)
    buf.hold_audio(second)
    assert buf.held_ms == 100.0  # exactly the bound: nothing dropped
    assert stats.dropped_ms == 0.0
    assert stats.buffered_peak_ms == 100.0
    third = ms(1)
    buf.hold_audio(third)
    assert stats.buffered_peak_ms == 101.0  # the peak is taken before dropping
    assert stats.dropped_ms == 60.0
    assert buf.held_ms == 41.0
    assert drain(buf) == [second, third]


def test_dropping_goes_on_until_the_audio_fits() -> None:
    buf, stats = buffer(bound_ms=100.0)
    for _ in range(5):
        buf.hold_audio(ms(20))
    buf.hold_audio(ms(70))
    assert stats.dropped_ms == 80.0  # four 20 ms chunks to make room for 70 ms
    assert buf.held_ms == 90.0
    assert drain(buf) == [ms(20), ms(70)]


def test_instructions_are_never_dropped_and_keep_their_place() -> None:
    buf, stats = buffer(bound_ms=50.0)
    old, new = ms(40), ms(30) + b"\x00\x00"
    buf.hold_text("first")
    buf.hold_audio(old)
    buf.hold_text("second")
    buf.hold_audio(new)
    assert stats.dropped_ms == 40.0
    assert drain(buf) == ["first", "second", new]


def test_the_peak_is_the_highest_held_not_the_latest() -> None:
    buf, stats = buffer(bound_ms=1000.0)
    buf.hold_audio(ms(30))
    buf.sent()
    buf.hold_audio(ms(10))
    assert stats.buffered_peak_ms == 30.0
    assert buf.held_ms == 10.0


def test_sending_audio_counts_its_bytes_and_lowers_what_is_held() -> None:
    buf, stats = buffer()
    buf.hold_audio(ms(10))
    buf.hold_audio(ms(5))
    buf.sent()
    assert stats.audio_sent_bytes == 320
    assert buf.held_ms == 5.0
    buf.hold_text("x")
    buf.sent()
    assert stats.audio_sent_bytes == 480
    assert buf.held_ms == 0.0


def test_sending_an_instruction_counts_no_bytes() -> None:
    buf, stats = buffer()
    buf.hold_text("hello")
    buf.hold_audio(ms(2))
    buf.sent()
    assert stats.audio_sent_bytes == 0
    assert buf.held_ms == 2.0


def test_what_is_held_never_goes_below_zero() -> None:
    buf, _ = buffer()
    buf.hold_audio(b"\x00" * 16)  # half a millisecond
    buf.hold_text("then")
    buf.sent()
    assert buf.held_ms == 0.0
    assert buf.first() == "then"


def test_an_emptied_buffer_holds_exactly_nothing() -> None:
    buf, stats = buffer(bound_ms=1000.0)
    for size in (1, 3, 7, 11):  # thirds of a ms leave float residue
        buf.hold_audio(b"\x00" * size)
    drain(buf)
    assert buf.held_ms == 0.0
    assert stats.audio_sent_bytes == 22


@given(
    st.lists(
        st.one_of(st.integers(min_value=0, max_value=60).map(ms), st.sampled_from(["a", "b"])),
        max_size=30,
    )
)
def test_audio_is_held_sent_or_dropped_and_never_more_than_the_bound(
    items: list[bytes | str],
) -> None:
    buf, stats = buffer(bound_ms=100.0)
    for item in items:
        if isinstance(item, bytes):
            buf.hold_audio(item)
        else:
            buf.hold_text(item)
        assert buf.held_ms <= 100.0
    out = drain(buf)
    audio_in = sum(len(i) for i in items if isinstance(i, bytes))
    assert stats.audio_sent_bytes / 32 + stats.dropped_ms == audio_in / 32
    assert [i for i in out if isinstance(i, str)] == [i for i in items if isinstance(i, str)]
    assert stats.buffered_peak_ms <= 160.0


# -- the session watch


def watch(**policy: float) -> SessionWatch:
    return SessionWatch(LinkPolicy(**policy))  # type: ignore[arg-type]


def test_a_new_watch_knows_nothing() -> None:
    w = watch()
    assert (w.handle, w.session_no, w.generating, w.switch_deadline) == (None, 0, False, None)
    assert w.switch_due(1e9) is False


def test_only_a_resumable_handle_is_kept() -> None:
    w = watch()
    w.observe(ResumptionHandle("h1", resumable=True), now=0)
    assert w.handle == "h1"
    w.observe(ResumptionHandle("h2", resumable=False), now=0)
    assert w.handle == "h1"
    w.observe(ResumptionHandle("h3", resumable=True), now=0)
    assert w.handle == "h3"


@pytest.mark.parametrize("end", [TurnComplete(), Interrupted(), GenerationComplete()])
def test_agent_audio_starts_a_reply_and_a_turns_end_finishes_it(end: object) -> None:
    w = watch()
    w.observe(AgentAudio(b"\x00\x00"), now=0)
    assert w.generating is True
    w.observe(end, now=0)  # type: ignore[arg-type]
    assert w.generating is False


@pytest.mark.parametrize("other", [Transcript("agent", "hi"), Usage(5)])
def test_other_events_change_nothing(other: object) -> None:
    w = watch()
    w.observe(AgentAudio(b"\x00\x00"), now=0)
    w.observe(other, now=0)  # type: ignore[arg-type]
    assert (w.generating, w.handle, w.switch_deadline) == (True, None, None)


@pytest.mark.parametrize(
    ("left", "deadline"),
    [
        (None, 115.0),  # no time given: the longest wait, 15 s
        (20.0, 115.0),  # more than enough: still 15 s
        (17.0, 115.0),  # 17 - 2 = 15
        (10.0, 108.0),  # the margin before the time left
        (2.0, 100.0),  # no time at all beyond the margin
        (0.5, 100.0),  # never a deadline in the past
    ],
)
def test_go_away_sets_the_switch_deadline(left: float | None, deadline: float) -> None:
    w = watch()
    w.observe(GoAway(time_left_s=left), now=100.0)
    assert w.switch_deadline == deadline


def test_go_away_follows_the_policy() -> None:
    w = watch(clean_point_wait_s=4.0, switch_margin_s=1.0)
    w.observe(GoAway(time_left_s=None), now=10.0)
    assert w.switch_deadline == 14.0
    w.observe(GoAway(time_left_s=3.0), now=10.0)
    assert w.switch_deadline == 12.0


def test_a_switch_is_due_at_a_clean_point_or_the_deadline() -> None:
    w = watch()
    w.observe(AgentAudio(b"\x00\x00"), now=0)
    w.observe(GoAway(time_left_s=None), now=0)
    assert w.switch_due(0) is False  # mid-reply
    assert w.switch_due(14.99) is False
    assert w.switch_due(15.0) is True  # the deadline, clean or not
    w.observe(TurnComplete(), now=1)
    assert w.switch_due(1) is True  # a clean point


def test_a_tool_call_in_flight_is_no_clean_point() -> None:
    w = watch()
    call = ToolCall("c1", "lookup", {})
    w.observe(call, now=0)
    w.observe(GoAway(time_left_s=None), now=0)
    assert w.switch_due(1) is False
    assert w.answered(call.key) is True
    assert w.switch_due(1) is True


def test_a_cancelled_tool_call_is_no_longer_in_flight_nor_answered() -> None:
    w = watch()
    w.observe(ToolCall("c1", "lookup", {}), now=0)
    w.observe(ToolCall("c2", "lookup", {}), now=0)
    w.observe(GoAway(time_left_s=None), now=0)
    w.observe(ToolCallCancelled(("c1", "unknown")), now=0)
    assert w.switch_due(1) is False  # c2 still runs
    assert w.answered("c1") is False  # the model no longer wants it
    w.observe(ToolCallCancelled(("c2",)), now=0)
    assert w.switch_due(1) is True
    assert w.answered("c2") is False


def test_an_answer_goes_only_to_the_session_that_asked() -> None:
    w = watch()
    old = ToolCall("c1", "lookup", {})
    w.observe(old, now=0)
    w.became_current()
    assert w.session_no == 1
    new = ToolCall("c2", "lookup", {})
    w.observe(new, now=0)
    assert w.answered(old.key) is False
    assert w.answered(new.key) is True
    assert w.answered(new.key) is False  # answered once
    assert w.answered("never asked") is False


def test_a_new_session_has_no_tool_call_in_flight() -> None:
    w = watch()
    w.observe(ToolCall("c1", "lookup", {}), now=0)
    w.became_current()
    w.became_current()
    assert w.session_no == 2
    w.observe(GoAway(time_left_s=None), now=0)
    assert w.switch_due(0) is True


def test_losing_the_session_ends_the_reply_and_the_deadline() -> None:
    w = watch()
    w.observe(ResumptionHandle("h", resumable=True), now=0)
    w.observe(AgentAudio(b"\x00\x00"), now=0)
    w.observe(GoAway(time_left_s=None), now=0)
    w.lost()
    assert (w.generating, w.switch_deadline, w.handle) == (False, None, "h")
    assert w.switch_due(1e9) is False


# -- backoff

EXACT = LinkPolicy(max_attempts=6, max_reconnect_s=30.0, backoff_base_s=0.125, backoff_cap_s=4.0)


@pytest.mark.parametrize(
    ("attempt", "spent_s", "draw", "wait"),
    [
        (0, 0.0, 0.5, 0.0625),
        (1, 0.0, 0.5, 0.125),
        (3, 0.0, 0.5, 0.5),  # 0.125 * 2**3 = 1
        (3, 0.0, 0.0, 0.0),
        (5, 0.0, 0.5, 2.0),  # 0.125 * 32 = 4: the cap
        (6, 0.0, 0.5, 2.0),  # capped
        (6, 0.0, 0.75, 3.0),
        (6, 29.5, 0.5, 0.5),  # never beyond the time left
        (6, 29.0, 0.25, 1.0),
        (6, 29.875, 0.5, 0.125),
    ],
)
def test_full_jitter_under_a_doubling_capped_ceiling(
    attempt: int, spent_s: float, draw: float, wait: float
) -> None:
    assert backoff(EXACT, attempt, spent_s, draw) == wait


@pytest.mark.parametrize(
    ("attempt", "spent_s"),
    [(7, 0.0), (8, 0.0), (0, 30.0), (0, 31.0), (7, 30.0)],
)
def test_giving_up_when_attempts_or_time_run_out(attempt: int, spent_s: float) -> None:
    assert backoff(EXACT, attempt, spent_s, 0.5) is None


def test_the_defaults() -> None:
    policy = LinkPolicy()
    assert backoff(policy, 0, 0.0, 0.5) == pytest.approx(0.05)
    assert backoff(policy, 6, 0.0, 0.5) == 2.0
    assert backoff(policy, 7, 0.0, 0.5) is None
    assert backoff(policy, 0, 29.99, 0.99) == pytest.approx(0.01)  # the time left
    assert backoff(policy, 0, 30.0, 0.5) is None


@given(
    attempt=st.integers(min_value=0, max_value=6),
    spent_s=st.floats(min_value=0.0, max_value=29.99),
    draw=st.floats(min_value=0.0, max_value=0.9999),
)
def test_a_wait_is_within_the_ceiling_and_the_time_left(
    attempt: int, spent_s: float, draw: float
) -> None:
    wait = backoff(EXACT, attempt, spent_s, draw)
    assert wait is not None
    assert 0.0 <= wait <= min(4.0, 0.125 * 2**attempt)
    assert wait <= 30.0 - spent_s


@pytest.mark.parametrize(
    ("codes", "retried"),
    [
        ([1007], [True]),
        ([1007, 1007], [True, False]),  # once per call
        ([1008, 1007], [False, True]),
        ([None, 400, 1011, 1006], [False, False, False, False]),
    ],
)
def test_a_1007_is_retried_once_and_no_other_fatal_close(
    codes: list[int | None], retried: list[bool]
) -> None:
    watch = SessionWatch(LinkPolicy())
    assert [watch.retry_once(code) for code in codes] == retried


def test_forgetting_the_handle_makes_the_next_session_fresh() -> None:
    watch = SessionWatch(LinkPolicy())
    watch.observe(ResumptionHandle("h1", True), 0.0)
    assert watch.handle == "h1"
    watch.forget_handle()
    assert watch.handle is None
    watch.observe(ResumptionHandle("h2", True), 1.0)
    assert watch.handle == "h2"
