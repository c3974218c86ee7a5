"""Playback ledger: what the caller has actually heard. Pure, no clock.

Twilio plays outbound media from a buffer and echoes a ``mark`` once every byte
queued before it has been played; ``clear`` empties the buffer and echoes every
pending mark at once. So the marks, not the send times, say what was heard, and the
marks echoed by a ``clear`` must not count as played. Each mark's name carries the
generation (bumped by every ``clear``), the agent turn, and a sequence number.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class TurnPlayback:
    """One agent turn's audio: how much was sent and how much was heard."""

    turn: int
    sent_ms: float = 0.0
    heard_ms: float = 0.0
    interrupted: bool = False


@dataclass(frozen=True)
class _PendingMark:
    turn: int
    sent_ms_at_mark: float


@dataclass
class PlaybackLedger:
    """Tracks agent turns, marks sent, marks echoed, and ``clear`` generations."""

    generation: int = 0
    turns: dict[int, TurnPlayback] = field(default_factory=dict)
    stale_marks: int = 0
    unknown_marks: int = 0
    _pending: dict[str, _PendingMark] = field(default_factory=dict)
    _seq: int = 0

    def turn(self, turn: int) -> TurnPlayback:
        if turn not in self.turns:
            self.turns[turn] = TurnPlayback(turn)
        return self.turns[turn]

    def audio_sent(self, turn: int, duration_ms: float) -> str:
        """Record ``duration_ms`` of turn ``turn`` sent; returns the mark name to send after it."""
        playback = self.turn(turn)
        playback.sent_ms += duration_ms
        self._seq += 1
        name = f"g{self.generation}-t{turn}-{self._seq}"
        self._pending[name] = _PendingMark(turn, playback.sent_ms)
        return name

    def mark_received(self, name: str) -> TurnPlayback | None:
        """A mark came back: the caller has heard everything sent before it.

        Returns the turn it advanced, or ``None`` for a stale or unknown mark.
        """
        pending = self._pending.pop(name, None)
        if pending is None:
            if name.startswith("g") and not name.startswith(f"g{self.generation}-"):
                self.stale_marks += 1
            else:
                self.unknown_marks += 1
            return None
        playback = self.turn(pending.turn)
        playback.heard_ms = max(playback.heard_ms, pending.sent_ms_at_mark)
        return playback

    def cleared(self, turn: int | None) -> TurnPlayback | None:
        """A ``clear`` was sent: pending marks become stale; ``turn`` was cut off.
        Returns the turn cut, or None: no such turn, or one a clear had already cut
        (a second ``interrupted`` with no audio between must not record it again)."""
        self.generation += 1
        self._pending.clear()
        playback = self.turns.get(turn) if turn is not None else None
        if playback is None or playback.interrupted:
            return None
        playback.interrupted = True
        return playback

    @property
    def pending_marks(self) -> int:
        return len(self._pending)
