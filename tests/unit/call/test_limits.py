"""Limits in time: the call's length, a silent caller (asked, then goodbye), a stream
that sends no audio. Table-driven, the clock passed in."""

from __future__ import annotations

from app.call.limits import CallLimits, Idle, Limit, LimitPolicy


def limits(**policy: float) -> CallLimits:
    return CallLimits(LimitPolicy(**policy), began=100.0)


def test_the_call_length() -> None:
    call = limits(max_call_s=60)
    assert call.tick(159.99, audible=False) is None
    assert call.tick(160.0, audible=False) is Limit.TIME_UP
    assert call.tick(160.0, audible=True) is Limit.TIME_UP  # talking does not extend it
    assert limits().tick(1e9, audible=False) is None  # 0: no limit


def test_a_silent_caller_is_asked_then_said_goodbye_to() -> None:
    call = limits(idle_timeout_s=30)
    assert call.tick(129.9, audible=False) is None
    assert call.tick(130.0, audible=False) is Limit.ASK
    assert call.idle is Idle.ASKED
    assert call.tick(159.9, audible=False) is None  # as long again after asking
    assert call.tick(160.0, audible=False) is Limit.SILENT


def test_speech_starts_the_silence_over() -> None:
    call = limits(idle_timeout_s=30)
    assert call.tick(130.0, audible=False) is Limit.ASK
    call.caller_audio(140.0, speech=True)
    assert call.idle is Idle.LISTENING
    assert call.tick(169.9, audible=False) is None
    assert call.tick(170.0, audible=False) is Limit.ASK
    call.caller_audio(180.0, speech=False)  # a quiet line is still silence
    assert call.tick(200.0, audible=False) is Limit.SILENT


def test_silence_while_the_agent_is_heard_is_not_idleness() -> None:
    call = limits(idle_timeout_s=30)
    assert call.tick(150.0, audible=True) is None
    assert call.tick(179.9, audible=False) is None
    assert call.tick(180.0, audible=False) is Limit.ASK
    assert limits(idle_timeout_s=0).tick(1e9, audible=False) is None  # off


def test_a_stream_that_sends_no_audio() -> None:
    call = limits(first_audio_timeout_s=10)
    assert not call.no_audio(1e9)  # not admitted: the start timeout's business
    call.admitted(200.0)
    assert not call.no_audio(209.99)
    assert call.no_audio(210.0)
    call.caller_audio(210.5, speech=False)
    assert not call.no_audio(1e9)


def test_a_new_call_is_listening() -> None:
    assert limits(idle_timeout_s=30).idle is Idle.LISTENING


def test_asking_starts_the_silence_over_and_speech_answers_it() -> None:
    call = limits(idle_timeout_s=30)
    call.caller_audio(110.0, speech=True)  # the silence counts from the last speech
    assert call.tick(139.9, audible=False) is None
    assert call.tick(140.0, audible=False) is Limit.ASK
    assert call.tick(140.0, audible=False) is None  # just asked: not silent yet
    call.caller_audio(150.0, speech=True)
    assert call.tick(180.0, audible=False) is Limit.ASK  # asked anew, not said goodbye to
