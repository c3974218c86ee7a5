"""Thinking audio: a soft sound while the agent works and has nothing to say yet. Pure:
events in, actions out, the clock passed in.

It plays while a tool call has run longer than ``after_s`` (``THINKING_AUDIO_AFTER_MS``),
or Gemini reports ``interactionStatus: IN_PROGRESS``, and nothing the agent said is
playing. Twilio plays whatever it holds, so the sound goes one 20 ms frame at a time,
each followed by a mark of its own, and never more than :data:`AHEAD` frames are
waiting at Twilio: a frame is sent when one of its marks comes back. It stops at the
next frame (nothing more is sent; at most :data:`AHEAD` frames, 40 ms, still play) when
agent audio arrives, when the caller starts talking, or when the work is over. After
agent audio it may come back once that has played (the model said "let me check" and
the tool still runs); after the caller talked over it, not until new work begins
(talking before it started only puts its start off). The
sound is never the agent's speech: no turn, nothing in the playback ledger or the
transcript; a recording gets it (:class:`ThinkingAudioSent`) as what the caller heard.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from app.call.actions import Action, ThinkingAudioSent, ToCaller, info
from app.telephony import wire

FRAME_BYTES = 160  # 20 ms of 8 kHz µ-law
AHEAD = 2  # frames waiting at Twilio, at most
MARK_PREFIX = "think-"  # the ledger's marks start with "g": never mistaken for these


@dataclass(frozen=True)
class ThinkingPolicy:
    after_s: float = 0.0  # THINKING_AUDIO_AFTER_MS / 1000; 0: off
    sound: bytes = b""  # 8 kHz µ-law, looped; empty: off


class Sound(Enum):
    QUIET = "quiet"
    PLAYING = "playing"


class ThinkingAudio:
    def __init__(self, policy: ThinkingPolicy, stream_sid: str, *, record: bool) -> None:
        self._policy = policy
        self._stream_sid = stream_sid
        self._record = record
        self.state = Sound.QUIET
        self.frames_sent = 0
        self._pending: set[str] = set()  # its marks Twilio holds (sent, not back yet)
        self._tools: set[str] = set()
        self._in_progress = False
        self._working_since: float | None = None  # tools or background work began
        self._quiet_since = 0.0  # last agent audio or caller speech
        self._barged = False  # the caller talked over it: not again until new work
        self._position = 0  # where in the sound the next frame starts (it loops on)
        self._seq = 0
        self._began = 0.0

    @property
    def _on(self) -> bool:
        return self._policy.after_s > 0 and len(self._policy.sound) >= FRAME_BYTES

    @property
    def pending_marks(self) -> int:
        """Its frames Twilio holds: sent, their marks not back yet."""
        return len(self._pending)

    @staticmethod
    def owns(mark: str) -> bool:
        return mark.startswith(MARK_PREFIX)

    # what the agent is doing

    def tool_started(self, key: str, now: float) -> None:
        self._tools.add(key)
        self._barged = False  # new work: the caller may wait for this one
        self._work(now)

    def tool_finished(self, key: str, now: float) -> list[Action]:
        self._tools.discard(key)
        return self._work(now)

    def in_progress(self, on: bool, now: float) -> list[Action]:
        self._in_progress = on
        return self._work(now)

    def _work(self, now: float) -> list[Action]:
        working = bool(self._tools) or self._in_progress
        if working and self._working_since is None:
            self._working_since = now
        elif not working:
            self._working_since, self._barged = None, False
            return self._stop(now, "the work is done")
        return []

    # what stops it

    def agent_audio(self, now: float) -> list[Action]:
        self._quiet_since = now
        return self._stop(now, "the agent speaks")

    def caller_speech(self, now: float) -> list[Action]:
        """The caller talks (or Gemini says so): over the sound, a barge-in."""
        self._quiet_since = now
        if self.state is not Sound.PLAYING:
            return []
        self._barged = True
        return self._stop(now, "the caller speaks")

    def _stop(self, now: float, why: str) -> list[Action]:
        if self.state is not Sound.PLAYING:
            return []
        self.state = Sound.QUIET
        return [info("thinking audio off after %.1f s: %s", now - self._began, why)]

    # Twilio and the clock

    def mark(self, name: str) -> list[Action]:
        """One of this sound's marks came back: a frame played (or was cleared). A mark
        it is not waiting for (replayed, or made up) plays nothing and sends nothing."""
        if name not in self._pending:
            return []
        self._pending.discard(name)
        return self._frame() if self.state is Sound.PLAYING else []

    def tick(self, now: float, *, audible: bool) -> list[Action]:
        if self.state is Sound.PLAYING or self._working_since is None or not self._on:
            return []
        if self._barged:
            return []
        waited = now - max(self._working_since, self._quiet_since)
        if audible or waited < self._policy.after_s:
            return []
        self.state, self._began = Sound.PLAYING, now
        why = "a tool is running" if self._tools else "the model is still working"
        actions: list[Action] = [info("thinking audio on: %s", why)]
        for _ in range(AHEAD - self.pending_marks):
            actions += self._frame()
        return actions

    def _frame(self) -> list[Action]:
        sound = self._policy.sound
        ulaw = sound[self._position : self._position + FRAME_BYTES]
        self._position += FRAME_BYTES
        if len(ulaw) < FRAME_BYTES:  # the loop's end: go on from its start
            self._position = FRAME_BYTES - len(ulaw)
            ulaw += sound[: self._position]
        self._seq += 1
        self.frames_sent += 1
        name = f"{MARK_PREFIX}{self._seq}"
        self._pending.add(name)
        actions: list[Action] = [ToCaller(wire.media_message(self._stream_sid, ulaw))]
        if self._record:
            actions.append(ThinkingAudioSent(ulaw))
        actions.append(ToCaller(wire.mark_message(self._stream_sid, name)))
        return actions
