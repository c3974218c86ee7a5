"""Dead air: the agent owes the caller audio and none comes; recover, step by step.
Pure: events in, actions out, the clock passed in.

The agent owes audio when

* the caller finished a turn Gemini transcribed (a non-empty input transcription).
  Proactive audio is always on in Gemini 3.8, so an empty ``turnComplete`` may be a
  deliberate non-answer (to noise, or to talk not meant for the bot): only words
  Gemini heard make a debt;
* its own reply stopped unfinished: the audio ran out with neither
  ``generationComplete`` nor ``turnComplete`` (a reply cut mid-sentence), or an
  ``interrupted`` nobody spoke for left the session mute.

It owes nothing while a tool runs, while Gemini reports ``interactionStatus:
IN_PROGRESS``, nor once the model says it waits for more (``waitingForInput``,
``turnCompleteReason: NEED_MORE_INPUT``).

The bound (``DEAD_AIR_SECONDS``) counts from the latest of: the end of the caller's
turn (the later of Gemini's ``voiceActivity`` end and the last frame the local detector
took for speech; while Gemini says the caller talks, nothing counts), the last agent
audio the caller actually heard (Twilio's marks: Gemini sends faster than it plays), a
tool's answer, the end of background work, a new session. An empty ``turnComplete``
after the caller's words does not wait for it: the model has said it is done, so
recovery starts as soon as the caller is quiet.

Recovery goes one step further each time the step before brought no audio within the
bound: :attr:`Step.NUDGE` (an instruction into the live session), :attr:`Step.RESUME`
(a new session resumed with the latest handle, nudged again), :attr:`Step.SEED` (a fresh
session told the conversation so far from our own transcript, nudged; also what a
refused resumption becomes), :attr:`Step.APOLOGY` (the call ends with
:attr:`Outcome.AGENT_SILENT`, whose ``<Connect action>`` plays the apology). Agent audio
at any point ends the recovery.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum, StrEnum

from app.agent.events import IN_PROGRESS, NEED_MORE_INPUT, HistoryTurn
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
from app.call.outcome import Outcome

LOG_PREFIX = "dead air"  # every line this machine writes starts so (tests count them)
MAX_TALK_S = 30.0  # a voiceActivity start whose end never came stops counting after this
NEVER = -math.inf


@dataclass(frozen=True)
class DeadAirPolicy:
    seconds: float = 0.0  # DEAD_AIR_SECONDS; 0: off
    instruction: str = "The caller is waiting. Answer them now, briefly."
    settle_s: float = 0.3  # after an empty turnComplete: how long the caller is quiet first
    switch_wait_s: float = 15.0  # longest wait for a new session before the next step


class Debt(Enum):
    """What the agent owes the caller."""

    NONE = "none"
    UNHEARD = "unheard"  # the caller spoke; Gemini has not transcribed it (yet)
    ANSWER = "answer"  # the caller's transcribed words wait for a reply
    REST = "rest"  # the agent's reply stopped unfinished


class Cause(StrEnum):
    EMPTY_TURN = "empty_turn"  # turnComplete with no audio after the caller's words
    NO_REPLY = "no_reply"  # no audio within the bound after the caller's words
    STOPPED = "stopped"  # a reply stopped mid-sentence
    MUTE = "mute_after_interrupt"  # `interrupted` nobody spoke for, then nothing


class Step(Enum):
    WATCHING = 0  # no recovery under way
    NUDGE = 1
    RESUME = 2
    SEED = 3
    APOLOGY = 4


History = Callable[[], tuple[HistoryTurn, ...]]


class Reply(Enum):
    """The agent's reply since the last turn's end, as far as its audio goes."""

    NONE = "none"  # no agent audio since the last turn's end
    SENDING = "sending"  # audio came; the model has not said it is done
    GENERATED = "generated"  # generationComplete: the rest only plays out


class DeadAirWatch:
    def __init__(self, policy: DeadAirPolicy, history: History) -> None:
        self._policy = policy
        self._history = history
        self.debt = Debt.NONE
        self.step = Step.WATCHING
        self.cause: Cause | None = None
        self.recoveries = 0  # dead-air episodes that needed a step (for the call's end)
        self._reply = Reply.NONE
        # moments (NEVER until they happen)
        self._talk_began = NEVER  # voiceActivity start, until its end
        self._caller_end = NEVER  # the caller's last speech, or voiceActivity end
        self._heard_at = NEVER  # agent audio last audible to the caller
        self._agent_at = NEVER  # agent audio last arrived
        self._restart_at = NEVER  # a tool answered, background work ended, a new session
        self._cut_at = NEVER  # a reply was cut by an interruption
        self._step_at = NEVER
        self._silent_since = NEVER
        self._tools: set[str] = set()
        self._in_progress = False
        self._waiting = False  # the model said it waits for the caller to go on
        self._empty_turn = False  # an empty turnComplete after the caller's words
        self._closing_cut = False  # the next turnComplete ends an interrupted turn
        self._awaiting_switch = False  # a new session asked for, not there yet

    # the caller

    def caller_speech(self, now: float) -> None:
        """A frame the local detector takes for speech."""
        self._caller_end = now
        self._spoke()

    def voice_activity(self, start: bool, now: float) -> None:
        """Gemini's own detector: the caller started, or stopped, talking."""
        if start:
            self._talk_began = now
            self._spoke()
        else:
            self._talk_began, self._caller_end = NEVER, now

    def caller_said(self, now: float) -> None:
        """A non-empty input transcription."""
        if self.debt in (Debt.UNHEARD, Debt.REST):
            self.debt = Debt.ANSWER
        if self.debt is not Debt.NONE or self._waiting:
            return
        # Words already answered (transcription runs late), unless no reply came for a
        # while: then they are speech the local detector did not take for speech.
        if now - max(self._agent_at, self._heard_at) < self._policy.seconds:
            return
        self.debt, self._caller_end = Debt.ANSWER, now

    def _spoke(self) -> None:
        self._empty_turn = self._waiting = False
        if self.debt in (Debt.NONE, Debt.REST):
            self.debt = Debt.UNHEARD

    # the agent

    def agent_audio(self, now: float) -> list[Action]:
        """Agent audio on its way to the caller: whatever was owed is being paid."""
        self._agent_at = now
        if self._reply is Reply.NONE:
            self._reply = Reply.SENDING
        self.debt, self._empty_turn, self._waiting = Debt.NONE, False, False
        if self.step is Step.WATCHING:
            return []
        step, self.step, self._awaiting_switch = self.step, Step.WATCHING, False
        silent = now - self._silent_since
        cause = str(self.cause)
        return [
            info("%s: recovered by the %s after %.1f s", LOG_PREFIX, step.name.lower(), silent),
            DeadAirRecovered(cause, step.name.lower(), silent),
        ]

    def heard(self, now: float) -> None:
        """A mark came back: the caller heard the agent's audio until now."""
        self._heard_at = now

    def generation_complete(self) -> None:
        if self._reply is Reply.SENDING:  # (with no audio, the turn is still empty)
            self._reply = Reply.GENERATED

    def interrupted(self, now: float, *, cut: bool) -> None:
        """Gemini's ``interrupted``; ``cut``: a reply was playing or being sent."""
        self._closing_cut, self._reply = True, Reply.NONE
        if cut and self.debt is Debt.NONE:  # nobody spoke for it, as far as we heard
            self.debt, self.cause, self._cut_at = Debt.REST, Cause.MUTE, now

    def turn_complete(self, now: float, *, reason: str, waiting: bool, status: str) -> None:
        replied = self._reply is not Reply.NONE or self._closing_cut
        self._closing_cut, self._reply = False, Reply.NONE
        if status:
            self.interaction(status == IN_PROGRESS, now)
        if waiting or reason == NEED_MORE_INPUT:
            self.waiting_for_input()
        elif not replied and self.debt in (Debt.UNHEARD, Debt.ANSWER):
            self._empty_turn = True

    def waiting_for_input(self) -> None:
        self.debt, self._waiting = Debt.NONE, True
        self.step, self._awaiting_switch = Step.WATCHING, False

    def interaction(self, in_progress: bool, now: float) -> None:
        if self._in_progress and not in_progress:
            self._restart_at = now
        self._in_progress = in_progress

    def tool_started(self, key: str) -> None:
        self._tools.add(key)

    def tool_finished(self, key: str, now: float) -> None:
        if key in self._tools:
            self._tools.discard(key)
            self._restart_at = now

    def switched(self, now: float, *, resumed: bool) -> list[Action]:
        """The call is on a new session (asked for, or after a loss)."""
        self._reply, self._restart_at = Reply.NONE, now
        if not self._awaiting_switch:
            return []
        self._awaiting_switch, self._step_at = False, now
        if self.step is Step.RESUME and not resumed:  # resuming failed: seeded instead
            self.step = Step.SEED
            return self._report(now, "the session could not be resumed: a fresh one was told")
        return []

    # time

    def tick(self, now: float, *, audible: bool, ending: bool) -> list[Action]:
        if not self._policy.seconds:
            return []
        if audible:
            self._heard_at = now
        talking = now - self._talk_began < MAX_TALK_S
        if audible or ending or self._tools or self._in_progress or talking:
            return []
        if self.step is Step.WATCHING:
            cause = self._due(now)
            if cause is None:
                return []
            self.cause, self._silent_since = cause, self._since()
            self.recoveries += 1
            return self._next(now)
        if self._awaiting_switch:
            due = now >= self._step_at + self._policy.switch_wait_s
        else:
            due = now >= max(self._step_at, self._since()) + self._policy.seconds
        return self._next(now) if due else []

    def _since(self) -> float:
        """When the silence the caller hears began: the latest of the moments above."""
        return max(self._caller_end, self._heard_at, self._agent_at, self._restart_at, self._cut_at)

    def _due(self, now: float) -> Cause | None:
        late = now >= self._since() + self._policy.seconds
        if self.debt is Debt.ANSWER:
            if self._empty_turn and now - self._caller_end >= self._policy.settle_s:
                return Cause.EMPTY_TURN
            return Cause.NO_REPLY if late else None
        if self.debt is Debt.NONE and self._reply is Reply.SENDING and late:
            self.debt = Debt.REST
            return Cause.STOPPED
        return self.cause if self.debt is Debt.REST and late else None

    def _next(self, now: float) -> list[Action]:
        self.step = Step(self.step.value + 1)
        self._step_at = now
        instruction = SendText(self._policy.instruction)
        if self.step is Step.NUDGE:
            return [*self._report(now, "nudging the agent"), instruction]
        if self.step is Step.APOLOGY:
            reason = f"dead air: no agent audio after {now - self._silent_since:.0f} s"
            hangup = Hangup(Outcome.AGENT_SILENT, reason)
            return [*self._report(now, "ending the call with the apology"), hangup]
        resume = self.step is Step.RESUME
        self._awaiting_switch = True
        what = "resuming the session" if resume else "a fresh session told the conversation"
        renew = RenewSession(self._history(), resume=resume)
        return [*self._report(now, what), renew, instruction]

    def _report(self, now: float, what: str) -> list[Action]:
        silent = now - self._silent_since
        step = self.step.name.lower()
        line = Log(
            logging.ERROR if self.step is Step.APOLOGY else logging.WARNING,
            "%s (%s, %.1f s of silence): step %d, %s",
            (LOG_PREFIX, self.cause, silent, self.step.value, what),
        )
        return [line, DeadAirStep(str(self.cause), step, silent)]
