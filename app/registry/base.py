"""What the processes of one deployment share, behind one async interface each.

A :class:`CallRegistry` answers, for whichever process asks: may this call connect
(:meth:`offer`: a stream token), may this stream start (:meth:`admit`: the token,
once, and room), which process holds a call (:meth:`locate`), what the ``<Connect
action>`` must do once the call's stream has closed (:meth:`after_stream`), and it
carries an operator's control to the process that holds the call (:meth:`control`).
A :class:`SharedThrottle` counts wrong tokens per client address, whichever process
saw them. ``app/registry/memory.py`` keeps both in this process (the default);
``app/registry/redis.py`` keeps them in Redis, for a fleet of processes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from app.call.controls import Control, Reply


@dataclass(frozen=True, slots=True)
class Dial:
    """After the stream: connect the caller to ``number`` (a transfer)."""

    number: str


@dataclass(frozen=True, slots=True)
class Apologise:
    """After the stream: the call failed on our side; the caller hears the apology."""

    reason: str


AfterStream = Dial | Apologise

IN_PROGRESS = "that call is already in progress (a replayed webhook?)"
ENDED = "that call has ended (a replayed webhook?)"
NO_ROOM = "no capacity"


def busy(limit: int) -> str:
    return f"all {limit} lines are in use (calls in progress or connecting)"


@dataclass(frozen=True, slots=True)
class Load:
    """Calls in progress or about to connect (a stream token issued), one per CallSid."""

    phone: int
    softphone: int


# How a registry hands a control to a call this process holds: (CallSid, control) →
# the call's reply, or None when this process does not hold that call.
Deliver = Callable[[str, Control], Awaitable[Reply | None]]


class CallRegistry(Protocol):
    @property
    def process(self) -> str:
        """This process's name in the registry (host, pid and a random part)."""
        ...

    async def open(self, deliver: Deliver) -> None:
        """Start: controls for this process's calls are handed to ``deliver``."""
        ...

    async def aclose(self) -> None: ...

    async def offer(self, call_sid: str) -> str:
        """A stream token for a call about to connect (superseding any earlier one for
        it), or :class:`~app.errors.CallRefused`: no room, the call is in progress, or it
        has ended (a replayed webhook)."""
        ...

    async def admit(self, call_sid: str, token: str) -> str | None:
        """A stream's ``start``: None, and the call is now held by this process; or why
        not (the token is not valid, unused and the latest for the call, or no room)."""
        ...

    async def transferring(self, call_sid: str, number: str | None) -> None:
        """The call is being transferred to ``number`` (None: Twilio's REST API has
        connected it), so the ``<Connect action>`` dials it if the stream closes first."""
        ...

    async def release(self, call_sid: str, after: AfterStream | None) -> None:
        """The call's stream has ended on this process; ``after`` is what the ``<Connect
        action>`` must do (a pending transfer outranks it)."""
        ...

    async def after_stream(self, call_sid: str) -> AfterStream | None:
        """What the ``<Connect action>`` must do, once (the memory is cleared)."""
        ...

    async def completed(self, call_sid: str) -> None:
        """Twilio reports the call completed: forget what a continuation would need."""
        ...

    async def locate(self, call_sid: str) -> str | None:
        """The process holding the call in progress, or None."""
        ...

    async def control(self, call_sid: str, control: Control) -> Reply:
        """Hand ``control`` to the call, on whichever process holds it; raises
        :class:`~app.errors.CallNotHere` when no process does."""
        ...

    async def load(self) -> Load: ...


class SharedThrottle(Protocol):
    """Wrong tokens per client address: after a burst, the address is turned away (429)."""

    async def blocked(self, address: str) -> bool:
        """Is ``address`` turned away now? (Asking does not spend a try.)"""
        ...

    async def failed(self, address: str) -> bool:
        """Count a failure; True when this one turned the address away."""
        ...
