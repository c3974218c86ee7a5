"""The inbound guard: every frame from the media socket, sorted before the call acts on
it. Pure: the clock is passed in.

A frame is one of the call's events (a ``start`` before the call, then ``media``,
``mark``, ``dtmf``, ``stop``), or :class:`Dropped` (malformed, unknown, or not the
call's: counted, and the first few malformed ones noted for the log), or a
:class:`Violation` (a flood, or too many malformed frames) that ends the call.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.call.budget import TokenBucket
from app.call.record import CallStats
from app.errors import ProtocolError
from app.telephony import wire

ULAW_BYTES_PER_MS = 8  # Twilio's audio: 8 kHz µ-law, a byte a sample
INBOUND_TRACKS = frozenset({"inbound", "inbound_track"})  # media, and dtmf's name for it
DTMF_DIGITS = frozenset("0123456789*#ABCD")


@dataclass(frozen=True)
class GuardPolicy:
    max_malformed: int = 100
    max_messages_per_s: float = 250.0  # sustained; bursts of twice that
    log_malformed_first: int = 5  # then every 100th, so a flood cannot flood the log
    # Caller audio at most this many times as fast as the wall clock (Twilio sends it in
    # real time), after a burst of ``audio_burst_ms``; beyond it audio is dropped.
    # 0: no limit (a benchmark replaying faster than real time).
    max_audio_rate: float = 2.0
    audio_burst_ms: float = 5000.0  # catching up after a network stall of a few seconds


@dataclass(frozen=True, slots=True)
class Dropped:
    """A frame the call does not act on; ``note`` is what to log about it, if anything."""

    note: str | None = None


@dataclass(frozen=True, slots=True)
class Violation:
    reason: str


Sorted = wire.Start | wire.Media | wire.Mark | wire.Dtmf | wire.Stop | Dropped | Violation
SILENT = Dropped()


class InboundGuard:
    def __init__(self, policy: GuardPolicy, stats: CallStats) -> None:
        self._policy = policy
        self._stats = stats
        rate = policy.max_messages_per_s
        self._budget = TokenBucket(rate=rate, burst=2 * rate)
        self._audio = TokenBucket(rate=1000 * policy.max_audio_rate, burst=policy.audio_burst_ms)
        self.stream_sid: str | None = None  # set once the call's `start` is taken

    def sort(self, frame: str | bytes, now: float) -> Sorted:
        if not self._budget.allow(now):
            return Violation("message flood")
        try:
            event = wire.parse(frame)
        except ProtocolError as error:
            return self._malformed(error.reason)
        if self.stream_sid is None:
            return self._before_start(event)
        if isinstance(event, wire.Media):
            wrong = event.stream_sid != self.stream_sid or event.track not in INBOUND_TRACKS
            if wrong or not event.payload:
                return self._ignored()
            return self._within_real_time(event, now)
        if isinstance(event, (wire.Mark, wire.Stop)):
            return event
        if isinstance(event, wire.Dtmf) and len(event.digit) == 1 and event.digit in DTMF_DIGITS:
            return event
        return self._ignored()  # unknown events, `connected` again, a second `start`

    def _before_start(self, event: wire.TwilioEvent | None) -> Sorted:
        if isinstance(event, (wire.Start, wire.Stop)):
            return event
        if isinstance(event, wire.Connected):
            return SILENT
        return self._ignored()  # unknown events, and media, marks or keys before `start`

    def _within_real_time(self, media: wire.Media, now: float) -> wire.Media | Dropped:
        """The audio, unless the call has sent audio faster than real time allows: it is
        dropped (and counted), never converted nor passed on."""
        ms = len(media.payload) / ULAW_BYTES_PER_MS
        if self._policy.max_audio_rate <= 0 or self._audio.allow(now, ms):
            return media
        first = self._stats.audio_dropped_ms == 0
        self._stats.audio_dropped_ms += ms
        if first:
            limit = self._policy.max_audio_rate
            return Dropped(f"caller audio faster than {limit:g}x real time: dropping the excess")
        return SILENT

    def _ignored(self) -> Dropped:
        self._stats.ignored_frames += 1
        return SILENT

    def _malformed(self, reason: str) -> Dropped | Violation:
        self._stats.malformed_frames += 1
        count = self._stats.malformed_frames
        if count > self._policy.max_malformed:
            return Violation(f"{count} malformed messages")
        if count <= self._policy.log_malformed_first or count % 100 == 0:
            return Dropped(f"ignored malformed Twilio frame #{count}: {reason!r}")
        return SILENT
