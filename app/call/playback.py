"""The agent's side of the call: its turns, their audio as Twilio messages, and what
the caller heard of them (the playback ledger). Pure.

One enum holds the turn state: the agent is :attr:`Speech.SILENT` (not replying;
what it sent may still be playing), :attr:`Speech.SPEAKING` (a reply is being sent),
or :attr:`Speech.MUTED` (the caller took the floor before Gemini said so: the rest
of this reply is dropped).
"""

from __future__ import annotations

from enum import Enum

import numpy as np

from app.audio.convert import OutboundConverter, ulaw_to_pcm16
from app.audio.onset import level_dbfs
from app.call.actions import Action, AgentAudioSent, PlaybackCleared, ToCaller
from app.call.ledger import PlaybackLedger, TurnPlayback
from app.call.record import CallStats
from app.telephony import wire

ULAW_BYTES_PER_MS = 8
QUIET_DBFS = -120.0


class Speech(Enum):
    SILENT = "silent"
    SPEAKING = "speaking"
    MUTED = "muted"


class Playback:
    def __init__(
        self, stream_sid: str, stats: CallStats, *, track_peaks: bool, record: bool
    ) -> None:
        self._stream_sid = stream_sid
        self._stats = stats
        self._track_peaks = track_peaks  # for the fast barge-in's echo estimate
        self._record = record
        self._converter = OutboundConverter()
        self.state = Speech.SILENT
        self.turn = 0  # the latest agent turn's number (from 1)
        self.ledger = PlaybackLedger()
        self.peak_dbfs = QUIET_DBFS  # loudest audio of this turn
        self._cut_off = False  # cleared for Gemini's voiceActivity; `interrupted` may follow

    @property
    def audible(self) -> bool:
        """The agent is replying, or audio it sent is still playing to the caller. A
        cleared turn is silent at once, however much of it was never heard."""
        return self.state is Speech.SPEAKING or self.playing

    @property
    def playing(self) -> bool:
        """Audio the agent sent is still playing to the caller (Twilio's marks say so),
        whether or not the reply is over."""
        playback = self.ledger.turns.get(self.turn)
        return (
            playback is not None
            and not playback.interrupted
            and playback.heard_ms < playback.sent_ms
        )

    def audio(self, pcm24k: bytes) -> tuple[bool, list[Action]]:
        """Agent audio: whether it began a new turn, and what to send."""
        if self.state is Speech.MUTED:
            return False, []
        self._cut_off = False
        began = self.state is Speech.SILENT
        if began:
            self.state = Speech.SPEAKING
            self.turn += 1
            self._stats.agent_turns += 1
        return began, self._send(self._converter.convert(pcm24k))

    def interrupted(self) -> tuple[TurnPlayback | None, list[Action]]:
        """Gemini says the caller spoke over the agent: clear first (every ms before it is
        heard), drop what the converter holds. Returns the turn cut, if any; none when
        the fast barge-in had already cleared it."""
        if self.state is Speech.MUTED:
            self.state = Speech.SILENT
            self._stats.interruptions += 1
            return None, []
        if self._cut_off:  # Gemini's voiceActivity start came first and cut it already
            self._cut_off = False
            return None, []
        actions: list[Action] = [ToCaller(wire.clear_message(self._stream_sid), True)]
        return self._cut(actions, Speech.SILENT), actions

    def cut_off(self) -> tuple[TurnPlayback | None, list[Action]]:
        """Gemini heard the caller start talking over the agent (``voiceActivity``):
        stop playback now. A reply still being sent is dropped until ``interrupted``
        says so too (or the turn completes); one sent in full is cleared, and the reply
        to what the caller says is played. Either way the ``interrupted`` that follows
        cuts nothing again."""
        actions: list[Action] = [ToCaller(wire.clear_message(self._stream_sid), True)]
        speaking = self.state is Speech.SPEAKING
        self._cut_off = not speaking
        return self._cut(actions, Speech.MUTED if speaking else Speech.SILENT), actions

    def barge_in(self) -> tuple[TurnPlayback | None, list[Action]]:
        """The caller started talking over the agent (fast barge-in): stop playback now,
        and drop the rest of this reply."""
        actions: list[Action] = [ToCaller(wire.clear_message(self._stream_sid))]
        self._stats.fast_barge_ins += 1
        return self._cut(actions, Speech.MUTED), actions

    def completed(self) -> list[Action]:
        """The turn is over (the model completed it, or its session is gone): send what
        the converter still holds."""
        was, self.state, self.peak_dbfs = self.state, Speech.SILENT, QUIET_DBFS
        self._cut_off = False
        return self._send(self._converter.flush()) if was is Speech.SPEAKING else []

    def mark(self, name: str) -> TurnPlayback | None:
        """A mark came back: the turn it advanced, or None (stale or unknown)."""
        return self.ledger.mark_received(name)

    def _cut(self, actions: list[Action], state: Speech) -> TurnPlayback | None:
        if self._record:
            actions.append(PlaybackCleared())
        self._converter.reset()
        self.state = state
        if state is Speech.SILENT:
            self._stats.interruptions += 1
        return self.ledger.cleared(self.turn)

    def _send(self, ulaw: bytes) -> list[Action]:
        if not ulaw:
            return []
        duration_ms = len(ulaw) / ULAW_BYTES_PER_MS
        self._stats.agent_audio_ms += duration_ms
        if self._track_peaks:
            pcm = np.frombuffer(ulaw_to_pcm16(ulaw), dtype="<i2")
            self.peak_dbfs = max(self.peak_dbfs, level_dbfs(pcm))
        actions: list[Action] = [ToCaller(wire.media_message(self._stream_sid, ulaw))]
        if self._record:
            actions.append(AgentAudioSent(ulaw))
        mark = self.ledger.audio_sent(self.turn, duration_ms)
        actions.append(ToCaller(wire.mark_message(self._stream_sid, mark)))
        return actions
