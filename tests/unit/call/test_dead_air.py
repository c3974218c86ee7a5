"""The dead-air watch: when the agent owes audio, when it does not, and the steps."""

from __future__ import annotations

import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.agent.events import HistoryTurn
from app.call.actions import (
    Action,
    DeadAirRecovered,
    DeadAirStep,
    Hangup,
    Log,
    RenewSession,
    SendText,
    info,
)
from app.call.dead_air import (
    LOG_PREFIX,
    MAX_TALK_S,
    Cause,
    DeadAirPolicy,
    DeadAirWatch,
    Debt,
    Step,
)
from app.call.outcome import Outcome

NUDGE = "Answer the caller now."
POLICY = DeadAirPolicy(seconds=3.0, instruction=NUDGE, settle_s=0.3, switch_wait_s=10.0)
HISTORY = (HistoryTurn("caller", "When do you open?"),)


def approx(seconds: float) -> float:
    return pytest.approx(seconds)  # type: ignore[return-value]


def watch(policy: DeadAirPolicy = POLICY) -> DeadAirWatch:
    return DeadAirWatch(policy, lambda: HISTORY)


def ticks(w: DeadAirWatch, start: float, end: float, **kw: bool) -> list[tuple[float, Action]]:
    """Tick every 0.1 s from ``start`` to ``end`` inclusive; every action with its time."""
    out: list[tuple[float, Action]] = []
    for i in range(round((end - start) * 10) + 1):
        now = round(start + i / 10, 1)
        out += [
            (now, a)
            for a in w.tick(now, audible=kw.get("audible", False), ending=kw.get("ending", False))
        ]
    return out


def step_line(cause: Cause, silent: float, step: int, what: str) -> Log:
    level = logging.ERROR if step == 4 else logging.WARNING
    return Log(
        level, "%s (%s, %.1f s of silence): step %d, %s", (LOG_PREFIX, cause, silent, step, what)
    )


def step_at(w: DeadAirWatch, at: float) -> Action:
    """The report of the step the tick at ``at`` takes (each step's second action)."""
    return [a for _, a in ticks(w, at, at)][1]


def asked(w: DeadAirWatch, at: float = 1.0) -> None:
    """The caller speaks until ``at`` and Gemini transcribes it."""
    w.caller_speech(at - 0.5)
    w.caller_speech(at)
    w.caller_said(at + 0.1)


def test_silence_with_nothing_owed_is_left_alone() -> None:
    w = watch()
    assert ticks(w, 0, 60) == []
    w.caller_speech(1.0)  # speech Gemini never transcribed: maybe not meant for the bot
    assert ticks(w, 1, 60) == [] and w.debt is Debt.UNHEARD


def test_no_reply_to_transcribed_words_is_nudged_at_the_bound() -> None:
    w = watch()
    asked(w)
    assert w.debt is Debt.ANSWER
    assert ticks(w, 1.2, 3.9) == []
    assert [a for _, a in ticks(w, 4.0, 4.0)] == [
        step_line(Cause.NO_REPLY, 3.0, 1, "nudging the agent"),
        DeadAirStep("no_reply", "nudge", 3.0),
        SendText(NUDGE),
    ]
    assert (w.step, w.cause, w.recoveries) == (Step.NUDGE, Cause.NO_REPLY, 1)


def test_each_step_follows_only_when_the_one_before_brought_no_audio() -> None:
    w = watch()
    asked(w)
    ticks(w, 1.2, 4.0)  # nudged at 4.0
    assert ticks(w, 4.1, 6.9) == []
    (at, log), *rest = ticks(w, 7.0, 7.0)
    assert (at, log) == (7.0, step_line(Cause.NO_REPLY, 6.0, 2, "resuming the session"))
    assert [a for _, a in rest] == [
        DeadAirStep("no_reply", "resume", 6.0),
        RenewSession(HISTORY, resume=True),
        SendText(NUDGE),
    ]
    assert ticks(w, 7.1, 16.9) == []  # waiting for the new session (up to 10 s)
    assert w.switched(8.0, resumed=True) == []
    assert ticks(w, 8.0, 10.9) == []
    seed = [a for _, a in ticks(w, 11.0, 11.0)]
    assert seed == [
        step_line(Cause.NO_REPLY, 10.0, 3, "a fresh session told the conversation"),
        DeadAirStep("no_reply", "seed", 10.0),
        RenewSession(HISTORY, resume=False),
        SendText(NUDGE),
    ]
    w.switched(12.5, resumed=False)
    assert ticks(w, 12.5, 15.4) == []
    apology = [a for _, a in ticks(w, 15.5, 15.5)]
    assert apology == [
        step_line(Cause.NO_REPLY, 14.5, 4, "ending the call with the apology"),
        DeadAirStep("no_reply", "apology", 14.5),
        Hangup(Outcome.AGENT_SILENT, "dead air: no agent audio after 14 s"),
    ]


@pytest.mark.parametrize(("step", "at"), [(Step.NUDGE, 4.0), (Step.RESUME, 7.0), (Step.SEED, 20.0)])
def test_agent_audio_ends_the_recovery_at_any_step(step: Step, at: float) -> None:
    w = watch()
    asked(w)
    ticks(w, 1.2, at)
    if step is Step.SEED:
        w.switched(at, resumed=False)  # the resumption was refused: a seeded session
    assert w.step is step
    assert w.agent_audio(at + 0.5) == [
        info("%s: recovered by the %s after %.1f s", LOG_PREFIX, step.name.lower(), at - 0.5),
        DeadAirRecovered("no_reply", step.name.lower(), at - 0.5),
    ]
    assert (w.step, w.debt) == (Step.WATCHING, Debt.NONE)
    w.turn_complete(at + 1.0, reason="", waiting=False, status="")
    assert ticks(w, at + 0.6, at + 30) == []  # the reply completed normally


def test_a_refused_resumption_becomes_the_seeded_step() -> None:
    w = watch()
    asked(w)
    ticks(w, 1.2, 7.0)  # resume asked at 7.0
    assert w.switched(8.0, resumed=False) == [
        step_line(Cause.NO_REPLY, 7.0, 3, "the session could not be resumed: a fresh one was told"),
        DeadAirStep("no_reply", "seed", 7.0),
    ]
    assert w.step is Step.SEED
    assert [type(a) for _, a in ticks(w, 8.1, 11.0)] == [Log, DeadAirStep, Hangup]


def test_a_new_session_that_never_comes_moves_to_the_next_step() -> None:
    w = watch()
    asked(w)
    ticks(w, 1.2, 7.0)  # resume asked at 7.0
    assert ticks(w, 7.1, 16.9) == []
    assert [type(a) for _, a in ticks(w, 17.0, 17.0)] == [Log, DeadAirStep, RenewSession, SendText]
    assert w.step is Step.SEED


def test_an_empty_turn_complete_after_the_callers_words_is_nudged_once_they_are_quiet() -> None:
    w = watch()
    asked(w)
    w.turn_complete(1.2, reason="", waiting=False, status="")
    assert ticks(w, 1.2, 1.2) == []  # the caller spoke 0.2 s ago
    acted = ticks(w, 1.3, 1.3)
    assert [a for _, a in acted][1] == DeadAirStep("empty_turn", "nudge", approx(0.3))


def test_an_empty_turn_complete_counts_once_the_words_are_transcribed() -> None:
    w = watch()
    w.caller_speech(1.0)
    w.turn_complete(1.4, reason="", waiting=False, status="")  # before the transcription
    assert ticks(w, 1.4, 2.0) == []
    w.caller_said(2.05)
    assert step_at(w, 2.1) == DeadAirStep("empty_turn", "nudge", approx(1.1))


def test_the_turn_complete_closing_an_interrupted_reply_is_not_an_empty_one() -> None:
    w = watch()
    w.agent_audio(0.5)
    w.caller_speech(1.0)
    w.interrupted(1.0, cut=True)
    w.caller_said(1.1)
    w.turn_complete(1.2, reason="", waiting=False, status="")  # ends the cut turn
    assert ticks(w, 1.3, 3.9) == []
    assert step_at(w, 4.0) == DeadAirStep("no_reply", "nudge", 3.0)


def test_caller_speech_after_an_empty_turn_complete_makes_it_stale() -> None:
    w = watch()
    asked(w)
    w.turn_complete(1.2, reason="", waiting=False, status="")
    w.caller_speech(1.25)  # the caller goes on talking
    assert ticks(w, 1.3, 4.2) == []
    assert step_at(w, 4.3) == DeadAirStep("no_reply", "nudge", approx(3.05))


@pytest.mark.parametrize(
    ("reason", "waiting"), [("NEED_MORE_INPUT", False), ("", True), ("NEED_MORE_INPUT", True)]
)
def test_a_model_waiting_for_more_owes_nothing_until_the_caller_speaks_again(
    reason: str, waiting: bool
) -> None:
    w = watch()
    asked(w)
    w.turn_complete(1.2, reason=reason, waiting=waiting, status="")
    assert w.debt is Debt.NONE
    w.caller_said(1.5)  # a late transcription of the same words
    assert ticks(w, 1.2, 30) == []
    asked(w, 31.0)
    assert step_at(w, 34.0) == DeadAirStep("no_reply", "nudge", 3.0)


def test_waiting_for_input_alone_ends_a_recovery_under_way() -> None:
    w = watch()
    asked(w)
    ticks(w, 1.2, 4.0)
    w.waiting_for_input()
    assert (w.step, w.debt) == (Step.WATCHING, Debt.NONE)
    assert ticks(w, 4.1, 30) == []


def test_a_running_tool_owes_nothing_and_its_answer_restarts_the_bound() -> None:
    w = watch()
    asked(w)
    w.tool_started("c1")
    w.tool_started("c2")
    assert ticks(w, 1.2, 20) == []
    w.tool_finished("c1", 20.0)
    assert ticks(w, 20.1, 30) == []  # c2 still runs
    w.tool_finished("c2", 30.0)
    w.tool_finished("c2", 31.0)  # answered already: not a new moment
    assert ticks(w, 30.1, 32.9) == []
    assert step_at(w, 33.0) == DeadAirStep("no_reply", "nudge", 3.0)


def test_a_recovery_under_way_waits_for_a_tool_too() -> None:
    w = watch()
    asked(w)
    ticks(w, 1.2, 4.0)  # nudged; the model calls a tool instead of speaking
    w.tool_started("c1")
    assert ticks(w, 4.1, 30) == []
    w.tool_finished("c1", 30.0)
    assert [type(a) for _, a in ticks(w, 33.0, 33.0)] == [Log, DeadAirStep, RenewSession, SendText]


@pytest.mark.parametrize("via_turn", [True, False])
def test_in_progress_owes_nothing_and_idle_restarts_the_bound(via_turn: bool) -> None:
    w = watch()
    asked(w)
    if via_turn:
        w.turn_complete(1.2, reason="", waiting=False, status="IN_PROGRESS")
    else:
        w.interaction(True, 1.2)
    assert ticks(w, 1.2, 40) == []
    if via_turn:
        w.turn_complete(40.0, reason="", waiting=False, status="IDLE")
    else:
        w.interaction(False, 40.0)
    if via_turn:  # an empty turn, now IDLE: the model is done and said nothing
        assert step_at(w, 40.0) == DeadAirStep("empty_turn", "nudge", 0.0)
    else:  # the work is over: the bound counts from there
        assert ticks(w, 40.0, 42.9) == []
        assert step_at(w, 43.0) == DeadAirStep("no_reply", "nudge", 3.0)


def test_in_progress_that_was_never_on_does_not_restart_anything() -> None:
    w = watch()
    asked(w)
    w.interaction(False, 3.5)
    assert step_at(w, 4.0) == DeadAirStep("no_reply", "nudge", 3.0)


def test_gemini_voice_activity_holds_the_bound_while_the_caller_talks() -> None:
    w = watch()
    w.voice_activity(True, 1.0)
    w.caller_said(1.5)
    assert ticks(w, 1.5, 20) == []  # the caller talks on (quietly, as far as we hear)
    w.voice_activity(False, 20.0)
    assert ticks(w, 20.0, 22.9) == []
    assert step_at(w, 23.0) == DeadAirStep("no_reply", "nudge", 3.0)


def test_a_voice_activity_start_without_end_stops_holding_after_a_while() -> None:
    w = watch()
    w.voice_activity(True, 1.0)
    w.caller_said(1.5)
    assert ticks(w, 1.5, 1.0 + MAX_TALK_S - 0.1) == []
    assert any(isinstance(a, SendText) for _, a in ticks(w, 1.0 + MAX_TALK_S, 1.0 + MAX_TALK_S))


def test_words_transcribed_after_the_reply_began_are_not_a_new_debt() -> None:
    w = watch()
    w.caller_speech(1.0)
    w.agent_audio(1.5)
    w.caller_said(2.0)  # transcription runs late
    assert w.debt is Debt.NONE
    w.turn_complete(2.5, reason="", waiting=False, status="")
    assert ticks(w, 2.5, 30) == []


def test_words_transcribed_long_after_the_last_reply_are_speech_the_detector_missed() -> None:
    w = watch()
    w.agent_audio(1.0)
    w.turn_complete(1.5, reason="", waiting=False, status="")
    w.caller_said(10.0)  # no speech frame heard: a quiet caller
    assert w.debt is Debt.ANSWER
    assert ticks(w, 10.0, 12.9) == []
    assert step_at(w, 13.0) == DeadAirStep("no_reply", "nudge", 3.0)


def spoke_over_a_reply(w: DeadAirWatch) -> None:
    """The caller asks, the reply comes, and the caller speaks over it while it plays."""
    asked(w)
    w.agent_audio(1.5)
    w.turn_complete(1.6, reason="", waiting=False, status="")
    w.caller_speech(2.0)
    w.caller_said(2.1)


def test_the_bound_counts_from_the_last_audio_the_caller_heard() -> None:
    w = watch()
    spoke_over_a_reply(w)
    assert ticks(w, 2.1, 8.0, audible=True) == []  # the reply plays until 8.0
    assert ticks(w, 8.1, 10.9) == []
    assert step_at(w, 11.0) == DeadAirStep("no_reply", "nudge", 3.0)


def test_a_reply_that_stops_mid_sentence_is_nudged_to_go_on() -> None:
    w = watch()
    w.agent_audio(1.0)
    assert ticks(w, 1.0, 5.0, audible=True) == []  # it played until 5.0, then nothing
    assert ticks(w, 5.1, 7.9) == []
    acted = [a for _, a in ticks(w, 8.0, 8.0)]
    assert acted[:2] == [
        step_line(Cause.STOPPED, 3.0, 1, "nudging the agent"),
        DeadAirStep("stopped", "nudge", 3.0),
    ]
    assert w.debt is Debt.REST


@pytest.mark.parametrize("end", ["generation", "turn", "interrupted"])
def test_a_reply_that_ended_is_not_one_that_stopped(end: str) -> None:
    w = watch()
    w.agent_audio(1.0)
    if end == "generation":
        w.generation_complete()  # turnComplete may lag: Gemini waits for the playback
    elif end == "turn":
        w.turn_complete(1.5, reason="", waiting=False, status="")
    else:
        w.caller_speech(1.5)
        w.interrupted(1.5, cut=True)
    assert ticks(w, 1.0, 5.0, audible=True) == []
    assert ticks(w, 5.1, 30) == []


def test_a_mute_session_after_a_phantom_interruption_is_nudged() -> None:
    w = watch()
    w.agent_audio(1.0)
    ticks(w, 1.0, 2.0, audible=True)
    w.interrupted(2.0, cut=True)  # nobody spoke
    assert w.debt is Debt.REST
    assert ticks(w, 2.1, 4.9) == []
    assert step_at(w, 5.0) == DeadAirStep("mute_after_interrupt", "nudge", 3.0)


def test_an_interruption_with_nothing_playing_owes_nothing() -> None:
    w = watch()
    w.interrupted(2.0, cut=False)
    assert ticks(w, 2.0, 30) == []


def test_caller_speech_after_an_interruption_leaves_it_to_the_transcription() -> None:
    w = watch()
    w.agent_audio(1.0)
    w.interrupted(2.0, cut=True)
    w.caller_speech(2.2)  # a cough, say: Gemini transcribes nothing
    assert ticks(w, 2.2, 30) == []
    w.caller_said(30.0)
    assert w.debt is Debt.ANSWER


def test_nothing_happens_while_the_call_is_ending_or_with_the_watch_off() -> None:
    w = watch()
    asked(w)
    assert ticks(w, 1.2, 30, ending=True) == []
    off = watch(DeadAirPolicy(seconds=0))
    asked(off)
    off.agent_audio(2.0)
    assert ticks(off, 2.0, 60) == []


def test_a_session_switch_restarts_the_bound() -> None:
    w = watch()
    asked(w)
    assert w.switched(3.0, resumed=True) == []  # a reconnect nobody asked for
    assert ticks(w, 1.2, 5.9) == []
    assert step_at(w, 6.0) == DeadAirStep("no_reply", "nudge", 3.0)


def test_each_episode_is_counted_once() -> None:
    w = watch()
    for start in (1.0, 20.0):
        asked(w, start)
        ticks(w, start + 0.2, start + 7.0)  # nudge and resume
        w.agent_audio(start + 8.0)
        w.turn_complete(start + 9.0, reason="", waiting=False, status="")
    assert w.recoveries == 2


Event = st.one_of(
    st.tuples(st.just("speech")),
    st.tuples(st.just("activity"), st.booleans()),
    st.tuples(
        st.just("turn"),
        st.sampled_from(["", "NEED_MORE_INPUT", "MALFORMED_FUNCTION_CALL"]),
        st.booleans(),
        st.sampled_from(["", "IN_PROGRESS", "IDLE"]),
    ),
    st.tuples(st.just("waiting")),
    st.tuples(st.just("interaction"), st.booleans()),
    st.tuples(st.just("tool"), st.sampled_from(["a", "b"]), st.booleans()),
    st.tuples(st.just("switched"), st.booleans()),
    st.tuples(st.just("generated")),
)


def play(w: DeadAirWatch, events: list[tuple[object, ...]], gaps: list[float]) -> list[Action]:
    now, actions = 0.0, []
    for event, gap in zip(events, gaps, strict=False):
        now += gap
        kind = event[0]
        if kind == "speech":
            w.caller_speech(now)
        elif kind == "activity":
            w.voice_activity(bool(event[1]), now)
        elif kind == "turn":
            w.turn_complete(now, reason=str(event[1]), waiting=bool(event[2]), status=str(event[3]))
        elif kind == "waiting":
            w.waiting_for_input()
        elif kind == "interaction":
            w.interaction(bool(event[1]), now)
        elif kind == "tool":
            (w.tool_started(str(event[1])) if event[2] else w.tool_finished(str(event[1]), now))
        elif kind == "switched":
            actions += w.switched(now, resumed=bool(event[1]))
        else:
            w.generation_complete()
        actions += w.tick(now, audible=False, ending=False)
    return actions + w.tick(now + 100, audible=False, ending=False)


@given(st.lists(Event, max_size=30), st.lists(st.floats(0, 10), min_size=30, max_size=30))
def test_without_transcribed_words_or_agent_audio_there_is_never_a_nudge(
    events: list[tuple[object, ...]], gaps: list[float]
) -> None:
    w = watch()
    assert play(w, events, gaps) == []
    assert w.step is Step.WATCHING and w.recoveries == 0


@given(st.lists(Event, max_size=30), st.lists(st.floats(0, 10), min_size=30, max_size=30))
def test_agent_audio_always_leaves_nothing_owed(
    events: list[tuple[object, ...]], gaps: list[float]
) -> None:
    w = watch()
    asked(w)
    play(w, events, gaps)
    w.agent_audio(1000.0)
    assert (w.step, w.debt) == (Step.WATCHING, Debt.NONE)


def test_an_interruption_after_the_last_audible_moment_starts_the_silence() -> None:
    w = watch()
    w.agent_audio(1.0)
    ticks(w, 1.0, 1.5, audible=True)  # all heard by 1.5; the reply still being sent
    w.interrupted(2.0, cut=True)  # nobody spoke; the clear at 2.0 is when silence began
    assert ticks(w, 1.6, 4.9) == []
    assert step_at(w, 5.0) == DeadAirStep("mute_after_interrupt", "nudge", 3.0)


def test_words_transcribed_while_a_reply_received_long_ago_still_plays_are_late() -> None:
    w = watch()
    w.caller_speech(1.0)
    w.agent_audio(1.5)  # a long reply, all received at once
    w.turn_complete(1.6, reason="", waiting=False, status="")
    ticks(w, 1.6, 9.0, audible=True)  # and played until 9.0
    w.caller_said(9.5)  # the question's transcription, very late
    assert w.debt is Debt.NONE


@pytest.mark.parametrize(("at", "debt"), [(3.99, Debt.NONE), (4.0, Debt.ANSWER)])
def test_a_transcription_is_late_for_less_than_the_bound_after_the_last_reply(
    at: float, debt: Debt
) -> None:
    w = watch()
    w.agent_audio(1.0)
    w.turn_complete(1.0, reason="", waiting=False, status="")
    w.caller_said(at)
    assert w.debt is debt


def test_an_empty_turn_complete_after_a_closing_one_counts_again() -> None:
    w = watch()
    w.agent_audio(0.5)
    w.caller_speech(1.0)
    w.interrupted(1.0, cut=True)
    w.turn_complete(1.2, reason="", waiting=False, status="")  # closes the cut turn
    asked(w, 3.0)
    w.turn_complete(3.2, reason="", waiting=False, status="")  # the question's: empty
    assert step_at(w, 3.4) == DeadAirStep("empty_turn", "nudge", approx(0.4))


def test_the_turn_complete_of_a_reply_the_caller_spoke_over_is_not_an_empty_one() -> None:
    w = watch()
    w.agent_audio(1.0)
    w.caller_speech(1.2)  # "uh-huh" over the reply; Gemini goes on
    w.turn_complete(1.5, reason="", waiting=False, status="")
    w.caller_said(1.6)
    assert ticks(w, 1.6, 4.1) == []  # no empty turn: the bound from the caller's last word
    assert step_at(w, 4.2) == DeadAirStep("no_reply", "nudge", approx(3.0))


@pytest.mark.parametrize("ended", ["audio", "waiting"])
def test_a_recovery_ended_while_a_session_was_awaited_leaves_nothing_awaited(ended: str) -> None:
    w = watch()
    asked(w)
    ticks(w, 1.2, 7.0)  # resume asked at 7.0: a new session awaited
    if ended == "audio":
        w.agent_audio(7.5)  # the old session spoke after all
        w.turn_complete(7.6, reason="", waiting=False, status="")
    else:
        w.waiting_for_input()
    asked(w, 20.0)
    ticks(w, 20.2, 23.0)  # nudged at 23.0
    assert [type(a) for _, a in ticks(w, 26.0, 26.0)] == [Log, DeadAirStep, RenewSession, SendText]


def test_a_generation_complete_with_no_audio_leaves_the_turn_empty() -> None:
    w = watch()
    asked(w)
    w.generation_complete()
    w.turn_complete(1.2, reason="", waiting=False, status="")
    assert step_at(w, 1.3) == DeadAirStep("empty_turn", "nudge", approx(0.3))


def test_audio_after_generation_complete_does_not_make_the_reply_unfinished() -> None:
    w = watch()
    w.agent_audio(1.0)
    w.generation_complete()
    w.agent_audio(1.1)  # a straggler
    assert ticks(w, 1.1, 30) == []


@pytest.mark.parametrize(("quiet", "acts"), [(0.1875, False), (0.25, True)])
def test_an_empty_turn_waits_for_the_caller_to_be_quiet_for_the_settling_time(
    quiet: float, acts: bool
) -> None:
    w = watch(DeadAirPolicy(seconds=3.0, instruction=NUDGE, settle_s=0.25))
    w.caller_speech(10.0)
    w.caller_said(10.0)
    w.turn_complete(10.0, reason="", waiting=False, status="")
    acted = w.tick(10.0 + quiet, audible=False, ending=False)  # exact binary fractions
    assert any(isinstance(a, SendText) for a in acted) is acts


def test_a_reply_never_heard_in_a_tick_counts_from_its_arrival() -> None:
    w = watch()
    w.agent_audio(5.0)  # a sliver, played out between two ticks
    assert ticks(w, 5.0, 7.9) == []
    assert step_at(w, 8.0) == DeadAirStep("stopped", "nudge", 3.0)


def test_words_transcribed_at_the_very_start_are_owed_an_answer_after_the_bound() -> None:
    w = watch()
    w.caller_said(5.0)  # the detector heard nothing; Gemini heard words
    assert w.debt is Debt.ANSWER
    assert ticks(w, 5.0, 7.9) == []  # not an empty turn: no turnComplete came
    assert step_at(w, 8.0) == DeadAirStep("no_reply", "nudge", 3.0)


def test_the_last_mark_back_is_when_the_caller_last_heard_the_agent() -> None:
    w = watch()
    spoke_over_a_reply(w)
    ticks(w, 2.1, 4.0, audible=True)
    w.heard(4.05)  # the last mark, between two ticks
    assert ticks(w, 4.1, 7.0) == []
    assert step_at(w, 7.1) == DeadAirStep("no_reply", "nudge", approx(3.05))
