"""The call's transcript: what the caller said and what the agent said, turn by turn,
each agent turn with how much of it the caller actually heard. Pure.

Transcription arrives as deltas that carry their own spacing and may split words, so
they are joined verbatim. An agent turn is recorded when it ends; if its audio is
still playing then, its ``heard_ms`` is settled as Twilio's marks come back (or as far
as it got, when the call ends first).
"""

from __future__ import annotations

from dataclasses import replace

from app.agent.events import HistoryTurn, TurnComplete
from app.call.actions import Action, TurnHeard, TurnRecorded, info
from app.call.ledger import PlaybackLedger, TurnPlayback
from app.call.record import Speaker, Turn


class Transcript:
    def __init__(self) -> None:
        self._caller: list[str] = []
        self._agent: list[str] = []
        self.turns: list[Turn] = []
        self._playing: list[Turn] = []  # agent turns recorded while still playing

    def heard(self, speaker: Speaker, text: str) -> None:
        """A transcription delta."""
        (self._caller if speaker == "caller" else self._agent).append(text)

    @property
    def agent_text(self) -> str:
        return "".join(self._agent).strip()

    @property
    def settling(self) -> bool:
        return bool(self._playing)

    def caller_turn(self) -> list[Action]:
        """What the caller said since the last time, as one turn."""
        text = "".join(self._caller).strip()
        self._caller.clear()
        if not text:
            return []
        return [info("caller said: %r", text), self._keep(Turn(0, "caller", text))]

    def agent_turn(
        self, playback: TurnPlayback, *, interrupted: bool, ended: TurnComplete | None = None
    ) -> list[Action]:
        """The agent's turn is over (completed, or cut by the caller); ``ended`` is how
        the model completed it."""
        ended = ended or TurnComplete()
        turn = Turn(
            0,
            "agent",
            self.agent_text,
            agent_turn=playback.turn,
            interrupted=interrupted,
            sent_ms=playback.sent_ms,
            heard_ms=playback.heard_ms,
            end_reason=ended.reason,
            waiting_for_input=ended.waiting_for_input,
            status=ended.status,
        )
        self._agent.clear()
        if not interrupted and playback.heard_ms < playback.sent_ms:
            self._playing.append(turn)  # a cleared turn's heard_ms is final
        return [self._keep(turn)]

    def history(self) -> tuple[HistoryTurn, ...]:
        """The conversation so far, as the caller heard it (an interrupted agent turn cut
        to what played), with words not yet made a turn at the end: what a fresh session
        is told when the old one cannot be resumed."""
        turns = [HistoryTurn(t.speaker, t.heard_text) for t in self.turns if t.heard_text]
        caller, agent = "".join(self._caller).strip(), self.agent_text
        if agent:
            turns.append(HistoryTurn("agent", agent))
        if caller:
            turns.append(HistoryTurn("caller", caller))
        return tuple(turns)

    def settle(self, ledger: PlaybackLedger, *, call_over: bool) -> list[Action]:
        """Turns recorded while still playing, once played (or at the end, as far as they
        got: a caller who hangs up mid-reply heard only part of it)."""
        actions: list[Action] = []
        still_playing = []
        for turn in self._playing:
            playback = ledger.turn(turn.agent_turn)
            done = playback.interrupted or playback.heard_ms >= playback.sent_ms
            if not (done or call_over):
                still_playing.append(turn)
                continue
            turn.heard_ms = playback.heard_ms
            actions.append(TurnHeard(replace(turn)))  # a snapshot: sinks may run later
        self._playing = still_playing
        return actions

    def _keep(self, turn: Turn) -> TurnRecorded:
        turn.seq = len(self.turns) + 1
        self.turns.append(turn)
        return TurnRecorded(replace(turn))
