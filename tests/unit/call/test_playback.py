"""The agent's turn state (one enum), its audio as Twilio messages, and what was heard."""

from __future__ import annotations

import base64
import json
from typing import Any

import numpy as np
import pytest

from app.audio.convert import ulaw_to_pcm16
from app.audio.onset import level_dbfs
from app.call.actions import Action, AgentAudioSent, PlaybackCleared, ToCaller
from app.call.playback import QUIET_DBFS, Playback, Speech
from app.call.record import CallStats

STREAM = "MZ" + "1" * 32
CHUNK = (np.sin(np.arange(960) * 0.05) * 8000).astype("<i2").tobytes()  # 40 ms at 24 kHz


def state(p: Playback) -> Speech:
    """Read afresh (the type checker would keep an earlier narrowing)."""
    return p.state


def playback(*, record: bool = False, peaks: bool = False) -> Playback:
    return Playback(STREAM, CallStats(), track_peaks=peaks, record=record)


def messages(actions: list[Action]) -> list[dict[str, Any]]:
    return [json.loads(a.text) for a in actions if isinstance(a, ToCaller)]


def events(actions: list[Action]) -> list[str]:
    return [m["event"] for m in messages(actions)]


def test_audio_begins_a_turn_and_goes_out_as_media_then_mark() -> None:
    p = playback()
    began, actions = p.audio(CHUNK)
    assert began and p.state is Speech.SPEAKING and p.turn == 1
    assert events(actions) == ["media", "mark"]
    sent = messages(actions)
    assert all(m["streamSid"] == STREAM for m in sent)
    assert sent[1]["mark"]["name"] == "g0-t1-1"
    began, actions = p.audio(CHUNK)
    assert not began and p.turn == 1 and events(actions) == ["media", "mark"]
    assert p._stats.agent_turns == 1
    assert p._stats.agent_audio_ms == p.ledger.turn(1).sent_ms > 70


def test_the_turn_ends_with_the_converters_tail() -> None:
    p = playback()
    p.audio(CHUNK)
    assert events(p.completed()) == ["media", "mark"]  # the filter's held-back tail
    assert p.state is Speech.SILENT
    assert p.completed() == []  # nothing more to flush
    began, _ = p.audio(CHUNK)
    assert began and p.turn == 2


def test_interrupted_clears_first_and_cuts_the_turn() -> None:
    p = playback()
    p.audio(CHUNK)
    cut, actions = p.interrupted()
    assert events(actions) == ["clear"]
    assert isinstance(actions[0], ToCaller) and actions[0].answers_interrupt
    assert cut is not None and cut.turn == 1 and cut.interrupted
    assert p.state is Speech.SILENT and p._stats.interruptions == 1
    assert not p.audible  # a cleared turn is silent at once
    # The next reply starts from silence: nothing of the cut one is carried over.
    fresh = playback()
    _, first = fresh.audio(CHUNK)
    _, after_cut = p.audio(CHUNK)
    assert [m["media"]["payload"] for m in messages(after_cut) if m["event"] == "media"] == [
        m["media"]["payload"] for m in messages(first) if m["event"] == "media"
    ]
    assert messages(after_cut)[1]["mark"]["name"].startswith("g1-t2-")  # a new generation


def test_a_fast_barge_in_mutes_the_rest_of_the_reply() -> None:
    p = playback()
    p.audio(CHUNK)
    cut, actions = p.barge_in()
    first = actions[0]
    assert events(actions) == ["clear"] and isinstance(first, ToCaller)
    assert not first.answers_interrupt
    assert cut is not None and cut.interrupted
    assert p.state is Speech.MUTED and p._stats.fast_barge_ins == 1
    assert p.audio(CHUNK) == (False, [])  # the caller took the floor
    assert p._stats.interruptions == 0
    cut, actions = p.interrupted()  # Gemini agrees later: already cleared
    assert (cut, actions) == (None, [])
    assert state(p) is Speech.SILENT and p._stats.interruptions == 1


def test_a_muted_turn_that_completes_sends_nothing_more() -> None:
    p = playback()
    p.audio(CHUNK)
    p.barge_in()
    assert p.completed() == []  # the dropped reply's tail is not played either
    assert p.state is Speech.SILENT


def test_audible_while_speaking_and_until_every_mark_is_back() -> None:
    p = playback()
    assert not p.audible
    _, actions = p.audio(CHUNK)
    assert p.audible
    marks = [m["mark"]["name"] for m in messages(actions + p.completed()) if m["event"] == "mark"]
    assert p.state is Speech.SILENT and p.audible  # sent, not yet played
    p.mark(marks[0])
    assert p.audible
    p.mark(marks[1])
    assert not p.audible


def test_recording_reports_follow_the_audio() -> None:
    p = playback(record=True)
    _, actions = p.audio(CHUNK)
    assert [type(a) for a in actions] == [ToCaller, AgentAudioSent, ToCaller]
    sent = next(a for a in actions if isinstance(a, AgentAudioSent))
    assert len(sent.ulaw) * 3 + 3 >= len(CHUNK) // 2 - 64  # 8 kHz of 24 kHz, minus the delay
    _, cleared = p.interrupted()
    assert [type(a) for a in cleared] == [ToCaller, PlaybackCleared]
    _, actions = playback(record=False).audio(CHUNK)
    assert not any(isinstance(a, AgentAudioSent) for a in actions)


def test_peaks_are_tracked_only_for_the_fast_barge_in_and_start_again_each_turn() -> None:
    p = playback(peaks=True)
    p.audio(CHUNK * 3)
    assert -30 < p.peak_dbfs < 0
    tail = messages(p.completed())[0]  # from here only the tail counts, still playing
    pcm = np.frombuffer(ulaw_to_pcm16(base64.b64decode(tail["media"]["payload"])), "<i2")
    assert p.peak_dbfs == level_dbfs(pcm)
    q = playback(peaks=False)
    q.audio(CHUNK)
    assert q.peak_dbfs == QUIET_DBFS


def test_the_stats_count_every_turn_cut_and_barge_in() -> None:
    p = playback()
    for _ in range(2):
        p.audio(CHUNK)
        p.interrupted()
    for _ in range(2):
        p.audio(CHUNK)
        p.barge_in()
        p.interrupted()  # Gemini agrees later
    stats = p._stats
    assert (stats.agent_turns, stats.interruptions, stats.fast_barge_ins) == (4, 4, 2)


def test_each_media_message_is_timed_by_its_bytes_at_eight_per_ms() -> None:
    p = playback()
    _, actions = p.audio(CHUNK)
    (media,) = (m for m in messages(actions) if m["event"] == "media")
    sent_ms = len(base64.b64decode(media["media"]["payload"])) / 8
    assert p.ledger.turn(1).sent_ms == sent_ms == p._stats.agent_audio_ms


def test_a_clear_is_for_this_stream_and_reported_when_recording() -> None:
    for cut in (Playback.interrupted, Playback.barge_in):
        p = playback(record=True)
        p.audio(CHUNK)
        _, actions = cut(p)
        assert messages(actions) == [{"event": "clear", "streamSid": STREAM}]
        assert [type(a) for a in actions] == [ToCaller, PlaybackCleared]


def test_a_cut_off_mid_reply_clears_and_drops_the_rest_until_interrupted() -> None:
    p = playback()
    p.audio(CHUNK)
    cut, actions = p.cut_off()
    assert events(actions) == ["clear"]
    assert isinstance(actions[0], ToCaller) and actions[0].answers_interrupt
    assert cut is not None and cut.turn == 1 and cut.interrupted
    assert state(p) is Speech.MUTED and not p.audible and not p.playing
    assert p.audio(CHUNK) == (False, [])  # the rest of the cut reply
    assert p.interrupted() == (None, [])  # Gemini agrees: nothing cut again
    assert state(p) is Speech.SILENT and p._stats.interruptions == 1
    began, _ = p.audio(CHUNK)
    assert began and p.turn == 2


def test_a_cut_off_after_the_reply_was_sent_lets_the_next_reply_play() -> None:
    p = playback()
    p.audio(CHUNK)
    p.completed()  # sent in full; still playing at Twilio
    assert state(p) is Speech.SILENT and p.audible and p.playing
    cut, actions = p.cut_off()
    assert events(actions) == ["clear"] and cut is not None
    assert state(p) is Speech.SILENT and p._stats.interruptions == 1
    assert p.interrupted() == (None, [])  # it came second: nothing to cut, not counted
    assert p._stats.interruptions == 1
    began, actions = p.audio(CHUNK)  # the reply to what the caller said
    assert began and events(actions) == ["media", "mark"]
    # an `interrupted` of that reply is cut as usual
    assert events(p.interrupted()[1]) == ["clear"] and p._stats.interruptions == 2


@pytest.mark.parametrize("then", ["audio", "completed"])
def test_only_the_interrupted_right_after_a_cut_off_is_absorbed(then: str) -> None:
    p = playback()
    p.audio(CHUNK)
    p.completed()
    p.cut_off()
    if then == "audio":
        p.audio(CHUNK)
    else:
        p.completed()
    assert events(p.interrupted()[1]) == ["clear"]


def test_playing_follows_the_marks_and_not_the_reply() -> None:
    p = playback()
    assert not p.playing and not p.audible
    _, actions = p.audio(CHUNK)
    mark = messages(actions)[1]["mark"]["name"]
    assert p.playing and p.audible
    p.mark(mark)  # everything sent so far was heard; the reply goes on
    assert not p.playing and p.audible


def test_an_interrupted_before_any_audio_still_clears_to_be_safe() -> None:
    p = playback()
    assert events(p.interrupted()[1]) == ["clear"]


def test_a_cut_off_is_absorbed_by_one_interrupted_only() -> None:
    p = playback()
    p.audio(CHUNK)
    p.completed()
    p.cut_off()
    assert p.interrupted() == (None, [])
    assert events(p.interrupted()[1]) == ["clear"]  # a second one: to be safe, as before


def test_a_cut_off_names_the_stream_and_is_recorded_as_a_clear() -> None:
    p = playback(record=True)
    p.audio(CHUNK)
    _, actions = p.cut_off()
    assert messages(actions) == [{"event": "clear", "streamSid": STREAM}]
    assert [type(a) for a in actions] == [ToCaller, PlaybackCleared]


def test_a_mark_back_says_which_turn_it_advanced() -> None:
    p = playback()
    _, actions = p.audio(CHUNK)
    name = messages(actions)[1]["mark"]["name"]
    advanced = p.mark(name)
    assert advanced is not None and advanced.turn == 1 and advanced.heard_ms > 0
    assert p.mark(name) is None  # again: nothing more was heard
    assert p.mark("g9-t1-1") is None
