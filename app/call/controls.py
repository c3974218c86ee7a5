"""What acts on a call from outside its own streams: an operator's instruction, hang-up
or transfer, shutdown, and the agent's built-in tools that end or transfer the call.

Each arrives as a :data:`Control` through the call's one door (the driver's mailbox,
handled on the call's own task, whichever process or task sent it) and is answered
with one :class:`Reply`. Plain data, no behaviour.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Say:
    """An operator's instruction for the agent, sent into the live session now."""

    text: str


@dataclass(frozen=True, slots=True)
class EndCall:
    """End politely: the agent says goodbye, the call ends once that was heard."""

    reason: str


@dataclass(frozen=True, slots=True)
class TransferTo:
    """An operator's transfer to a named target, announced by the agent first."""

    target: str


@dataclass(frozen=True, slots=True)
class EndCallTool:
    """The agent called its built-in ``end_call`` tool."""

    args: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class TransferTool:
    """The agent called its built-in ``transfer_call`` tool."""

    args: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class ToolAnswered:
    """One of the agent's tool calls (told apart by its ``key``) has been answered: the
    call waits for it no more (dead air counts again, the thinking sound stops)."""

    key: str


Control = Say | EndCall | TransferTo | EndCallTool | TransferTool | ToolAnswered
# The controls an operator (or another process, on an operator's behalf) may send.
OPERATOR_CONTROLS = (Say, EndCall, TransferTo)


@dataclass(frozen=True, slots=True)
class Reply:
    """Whether the call took the control; why not; and a tool's answer for the model."""

    accepted: bool
    problem: str = ""
    answer: Mapping[str, Any] = field(default_factory=dict)


ACCEPTED = Reply(True)
NOT_STARTED = Reply(False, "the call has not started yet")
ENDED = Reply(False, "the call has ended")
