"""The thinking sound: when it starts, how far ahead it runs, and what stops it."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.call.actions import Action, ThinkingAudioSent, ToCaller, info
from app.call.thinking import AHEAD, FRAME_BYTES, MARK_PREFIX, Sound, ThinkingAudio, ThinkingPolicy

STREAM = "MZ00000000000000000000000000000001"
SOUND = bytes(range(256)) * 5  # 1280 bytes: 8 frames, each frame told apart
POLICY = ThinkingPolicy(after_s=0.8, sound=SOUND)


def thinking(policy: ThinkingPolicy = POLICY, *, record: bool = False) -> ThinkingAudio:
    return ThinkingAudio(policy, STREAM, record=record)


def frames(actions: list[Action]) -> list[bytes]:
    """The µ-law of each media message sent."""
    sent = [json.loads(a.text) for a in actions if isinstance(a, ToCaller)]
    return [base64.b64decode(m["media"]["payload"]) for m in sent if m["event"] == "media"]


def marks(actions: list[Action]) -> list[str]:
    sent = [json.loads(a.text) for a in actions if isinstance(a, ToCaller)]
    return [m["mark"]["name"] for m in sent if m["event"] == "mark"]


def test_it_starts_once_a_tool_has_run_long_enough_and_nothing_plays() -> None:
    t = thinking()
    t.tool_started("c1", 10.0)
    assert t.tick(10.7, audible=False) == []
    assert t.tick(10.8, audible=True) == []  # the agent's "let me check" still plays
    actions = t.tick(10.9, audible=False)
    assert actions[0] == info("thinking audio on: %s", "a tool is running")
    assert frames(actions) == [SOUND[:160], SOUND[160:320]]
    assert marks(actions) == [f"{MARK_PREFIX}1", f"{MARK_PREFIX}2"]
    assert [json.loads(a.text)["event"] for a in actions[1:] if isinstance(a, ToCaller)] == [
        "media",
        "mark",
        "media",
        "mark",
    ]
    assert t.state is Sound.PLAYING and t.pending_marks == AHEAD == 2


def test_each_mark_back_sends_one_more_frame_and_the_sound_loops() -> None:
    t = thinking()
    t.tool_started("c1", 0.0)
    sent = frames(t.tick(1.0, audible=False))
    for n in range(3, 12):
        more = t.mark(f"{MARK_PREFIX}{n - 2}")
        assert marks(more) == [f"{MARK_PREFIX}{n}"]
        sent += frames(more)
        assert t.pending_marks == 2
    assert b"".join(sent) == (SOUND * 2)[: 11 * FRAME_BYTES]
    assert t.tick(2.0, audible=False) == []  # frames follow marks, not the clock


def test_a_sound_that_is_not_whole_frames_wraps_around() -> None:
    t = thinking(ThinkingPolicy(after_s=0.5, sound=SOUND[:400]))  # 2.5 frames
    t.tool_started("c1", 0.0)
    sent = frames(t.tick(1.0, audible=False))
    sent += frames(t.mark("think-1")) + frames(t.mark("think-2"))
    assert b"".join(sent) == (SOUND[:400] * 2)[:640]


@pytest.mark.parametrize("stop", ["agent", "caller", "done", "cancelled"])
def test_it_stops_at_the_next_frame(stop: str) -> None:
    t = thinking()
    t.tool_started("c1", 0.0)
    t.tick(1.0, audible=False)
    t.mark("think-1")
    if stop == "agent":
        said = t.agent_audio(1.5)
        why = "the agent speaks"
    elif stop == "caller":
        said = t.caller_speech(1.5)
        why = "the caller speaks"
    else:
        said = t.tool_finished("c1", 1.5)
        why = "the work is done"
    assert said == [info("thinking audio off after %.1f s: %s", 0.5, why)]
    assert t.state is Sound.QUIET
    assert t.mark("think-2") == [] and t.mark("think-3") == []  # the queued ones play out
    assert t.pending_marks == 0 and t.frames_sent == 3


def test_after_the_agent_spoke_it_comes_back_once_that_played() -> None:
    t = thinking()
    t.tool_started("c1", 0.0)
    t.tick(1.0, audible=False)
    t.mark("think-1")
    t.agent_audio(1.5)  # "let me check that for you", and the tool still runs
    assert t.mark("think-2") == []
    assert t.tick(2.0, audible=True) == []  # still playing
    assert t.tick(2.2, audible=False) == []  # 0.8 s after the agent's audio
    # it goes on where it left off (3 frames sent); one of those still waits at Twilio
    assert frames(t.tick(2.31, audible=False)) == [SOUND[480:640]]
    assert t.pending_marks == 2


def test_after_the_caller_barged_in_it_stays_off_until_new_work() -> None:
    t = thinking()
    t.tool_started("c1", 0.0)
    t.tick(1.0, audible=False)
    t.caller_speech(1.5)
    assert t.tick(30.0, audible=False) == []  # the same tool still runs
    t.tool_started("c2", 31.0)
    assert frames(t.tick(31.81, audible=False)) == []  # both earlier frames still wait
    assert t.state is Sound.PLAYING
    t.tool_finished("c1", 32.0)
    t.tool_finished("c2", 32.0)
    t.caller_speech(33.0)  # not during work: nothing held
    t.in_progress(True, 34.0)
    assert t.tick(34.81, audible=False)[0] == info(
        "thinking audio on: %s", "the model is still working"
    )


def test_the_model_working_in_the_background_plays_it_too() -> None:
    t = thinking()
    assert t.in_progress(True, 5.0) == []
    assert t.tick(5.7, audible=False) == []
    assert t.tick(5.81, audible=False)[0] == info(
        "thinking audio on: %s", "the model is still working"
    )
    assert t.in_progress(False, 7.0) == [
        info("thinking audio off after %.1f s: %s", pytest.approx(1.19), "the work is done")
    ]


def test_work_that_overlaps_counts_from_its_first_start() -> None:
    t = thinking()
    t.tool_started("c1", 0.0)
    t.tool_started("c2", 0.5)
    t.tool_finished("c1", 0.6)  # c2 still runs: the wait goes on from 0.0
    assert frames(t.tick(0.8, audible=False))
    t.in_progress(True, 1.0)
    assert t.tool_finished("c2", 1.1) == []  # the model still works
    assert t.state is Sound.PLAYING


@pytest.mark.parametrize(
    "policy",
    [ThinkingPolicy(after_s=0, sound=SOUND), ThinkingPolicy(after_s=0.8, sound=b"\xff" * 159)],
)
def test_off_when_turned_off_or_without_a_whole_frame_of_sound(policy: ThinkingPolicy) -> None:
    t = thinking(policy)
    t.tool_started("c1", 0.0)
    assert t.tick(60.0, audible=False) == []


def test_nothing_without_work() -> None:
    t = thinking()
    assert t.tick(60.0, audible=False) == []
    assert t.agent_audio(61.0) == [] and t.caller_speech(61.0) == []


def test_recordings_get_each_frame_as_heard() -> None:
    t = thinking(record=True)
    t.tool_started("c1", 0.0)
    actions = t.tick(1.0, audible=False)
    assert [a for a in actions if isinstance(a, ThinkingAudioSent)] == [
        ThinkingAudioSent(SOUND[:160]),
        ThinkingAudioSent(SOUND[160:320]),
    ]
    assert [type(a) for a in actions[1:4]] == [ToCaller, ThinkingAudioSent, ToCaller]


def test_a_mark_it_is_not_waiting_for_sends_nothing() -> None:
    t = thinking()
    t.tool_started("c1", 0.0)
    t.tick(1.0, audible=False)
    assert t.mark("think-99") == []  # made up
    assert marks(t.mark("think-1")) == ["think-3"]
    assert t.mark("think-1") == []  # replayed
    assert t.pending_marks == 2


def test_messages_name_the_stream() -> None:
    t = thinking()
    t.tool_started("c1", 0.0)
    sent = [json.loads(a.text) for a in t.tick(1.0, audible=False) if isinstance(a, ToCaller)]
    assert [m["streamSid"] for m in sent] == [STREAM] * 4


def test_its_marks_are_told_from_the_ledgers() -> None:
    t = thinking()
    t.tool_started("c1", 0.0)
    sent = marks(t.tick(1.0, audible=False))
    assert sent and all(ThinkingAudio.owns(name) for name in sent)
    assert not ThinkingAudio.owns("g0-t1-1") and not ThinkingAudio.owns("t1-think-1")


@given(
    st.lists(st.sampled_from(["mark", "tick", "agent", "caller", "start", "finish"]), max_size=60)
)
def test_never_more_than_two_frames_wait_at_twilio(steps: list[str]) -> None:
    t = thinking()
    now, waiting = 0.0, 0
    names: list[str] = []
    for step in steps:
        now += 0.3
        if step == "mark" and names:
            waiting -= 1
            actions = t.mark(names.pop(0))
        elif step == "tick":
            actions = t.tick(now, audible=False)
        elif step == "agent":
            actions = t.agent_audio(now)
        elif step == "caller":
            actions = t.caller_speech(now)
        elif step == "start":
            t.tool_started("c1", now)
            actions = []
        else:
            actions = t.tool_finished("c1", now)
        names += marks(actions)
        waiting += len(frames(actions))
        assert waiting == len(names) == t.pending_marks <= AHEAD
        if step in ("agent", "caller", "finish"):
            assert t.state is Sound.QUIET
