"""A driver for the call's core in unit tests: the time, the frames Twilio sends, and
every action so far. No sockets, no tasks."""

from __future__ import annotations

import base64
import json
from typing import Any

import numpy as np

from app.agent.events import AgentAudio, TurnComplete
from app.audio.convert import pcm16_to_ulaw
from app.call.actions import Action, Admit, CallBegan, Hangup, SendText, ToCaller
from app.call.controls import ACCEPTED, NOT_STARTED, Control, EndCall, Reply
from app.call.core import CallCore, CoreOptions, Phase
from app.call.record import CallStart
from app.telephony.captures import CALL, STREAM, build_capture

SPEECH = (np.sin(np.arange(160) * 0.3) * 6000).astype("<i2")
REPLY = (np.sin(np.arange(4800) * 0.05) * 8000).astype("<i2").tobytes()  # 200 ms at 24 kHz
FRAMES = [json.dumps(f) for f in build_capture(pcm16_to_ulaw(SPEECH.tobytes()) * 3 + b"\xff" * 160)]
CONNECTED, START = FRAMES[0], FRAMES[1]
SPOKEN, QUIET, STOP = FRAMES[2], FRAMES[5], FRAMES[-1]
SPEECH_ULAW = pcm16_to_ulaw(SPEECH.tobytes())
CALLER, CALLED = "+15550100001", "+15550100002"  # the capture's `from` and `to`
TURN_MS = 201.875  # one REPLY as sent: its 200 ms and the resampler's tail


def media(ulaw: bytes) -> str:
    return json.dumps(
        {"event": "media", "streamSid": STREAM, "media": {"track": "inbound", "payload": b64(ulaw)}}
    )


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def noise(level: float = 8000.0, seed: int = 7) -> str:
    """A frame of noise (``level``: its RMS): speech to the onset detector, not tonal."""
    samples = np.random.default_rng(seed).normal(0, level, 160).astype("<i2")
    return media(pcm16_to_ulaw(samples.tobytes()))


NOISE = noise()


def began(
    direction: str = "inbound", caller: str | None = CALLER, called: str | None = CALLED
) -> CallBegan:
    return CallBegan(CallStart(CALL, STREAM, caller, called, direction))


def mark(name: str) -> str:
    return json.dumps({"event": "mark", "streamSid": STREAM, "mark": {"name": name}})


def start_with(params: dict[str, str]) -> str:
    start = json.loads(START)
    start["start"]["customParameters"] = params
    return json.dumps(start)


class Call:
    """A core, with the driver's bookkeeping: the time, and every action so far."""

    def __init__(self, began: float = 0.0, **options: Any) -> None:
        self.now = began
        self.core = CallCore(CoreOptions(**options), self.now)
        self.actions: list[Action] = []

    @classmethod
    def started(cls, began: float = 0.0, **options: Any) -> Call:
        """A call admitted at once (its start's actions are in ``actions``)."""
        call = cls(began, **options)
        call.admitted()
        return call

    def _keep(self, actions: list[Action]) -> list[Action]:
        self.actions += actions
        return actions

    def frame(self, raw: str, after: float = 0.02) -> list[Action]:
        self.now += after
        return self._keep(self.core.receive(raw, self.now))

    def agent(self, event: Any, after: float = 0.0) -> list[Action]:
        self.now += after
        return self._keep(self.core.agent(event, self.now))

    def agents(self, *events: Any) -> list[Action]:
        """Agent events one after another, at the same time; every action they led to."""
        return [a for event in events for a in self.agent(event)]

    def tick(self, after: float) -> list[Action]:
        self.now += after
        return self._keep(self.core.tick(self.now))

    def control(self, control: Control) -> tuple[Reply, list[Action]]:
        """A control through the call's one door, as the driver's mailbox hands it in."""
        reply, actions = self.core.control(control, self.now)
        return reply, self._keep(actions)

    def goodbye(self, reason: str) -> list[Action]:
        """End politely (an operator's hang-up, shutdown): the actions it led to."""
        reply, actions = self.control(EndCall(reason))
        assert reply in (ACCEPTED, NOT_STARTED), reply
        return actions

    def admitted(self, refusal: str | None = None, start: str = START) -> list[Action]:
        self.frame(CONNECTED)
        (admit,) = self.frame(start)
        assert isinstance(admit, Admit) and admit.start.call_sid == CALL
        return self._keep(self.core.admission(refusal, self.now))

    def sent(self, actions: list[Action] | None = None) -> list[dict[str, Any]]:
        pool = self.actions if actions is None else actions
        return [json.loads(a.text) for a in pool if isinstance(a, ToCaller)]

    def events(self, actions: list[Action]) -> list[tuple[str, str]]:
        """The events of the frames sent to Twilio, each with the stream it names."""
        return [(m["event"], m["streamSid"]) for m in self.sent(actions)]

    def marks(self) -> list[str]:
        return [m["mark"]["name"] for m in self.sent() if m["event"] == "mark"]

    def sent_ms(self, turn: int = 1) -> float:
        return self.core.playback.ledger.turns[turn].sent_ms

    def heard_ms(self, turn: int = 1) -> float:
        return self.core.playback.ledger.turns[turn].heard_ms

    def reply(self) -> None:
        """A whole agent turn (a goodbye, say): its audio, then the model completes it."""
        self.agent(AgentAudio(REPLY))
        self.agent(TurnComplete())

    def audible_reply(self) -> None:
        """Admitted, the line's noise learnt by the onset detector, the agent talking."""
        self.admitted()
        for _ in range(12):
            self.frame(QUIET)
        self.agent(AgentAudio(REPLY))

    def play_all(self) -> list[Action]:
        """Twilio played everything: every mark comes back."""
        return [a for name in self.marks() for a in self.frame(mark(name))]


def phase(call: Call) -> Phase:
    """Read afresh (the type checker would keep an earlier narrowing)."""
    return call.core.phase


def kinds(actions: list[Action]) -> list[type]:
    return [type(a) for a in actions]


def hangup(actions: list[Action]) -> Hangup | None:
    return next((a for a in actions if isinstance(a, Hangup)), None)


def texts(actions: list[Action]) -> list[str]:
    return [a.text for a in actions if isinstance(a, SendText)]
