"""How a call ended, and what the media socket's close says about it. Pure."""

from __future__ import annotations

from enum import IntEnum, StrEnum


class Outcome(StrEnum):
    COMPLETED = "completed"  # the caller hung up or Twilio stopped the stream
    AGENT_FAILED = "agent_failed"  # the live session failed; the caller hears an apology
    AGENT_SILENT = "agent_silent"  # dead air no recovery ended; the caller hears an apology
    NO_START = "no_start"  # the socket never sent a valid `start`
    REFUSED = "refused"  # bad stream token, or no capacity: no session was opened
    PROTOCOL_VIOLATION = "protocol_violation"  # a flood, malformed messages, or no audio
    INTERNAL_ERROR = "internal_error"  # a fault in this server; the caller hears an apology


# Outcomes after which the <Connect action> plays the apology instead of hanging up.
APOLOGY_OUTCOMES = frozenset({Outcome.AGENT_FAILED, Outcome.AGENT_SILENT, Outcome.INTERNAL_ERROR})


class CloseCode(IntEnum):
    """WebSocket close codes the server uses (Twilio then runs the <Connect action>)."""

    NORMAL = 1000
    POLICY_VIOLATION = 1008  # before accept, the client sees HTTP 403
    TOO_BIG = 1009  # sent by the WebSocket layer for a message over the limit
    INTERNAL_ERROR = 1011


CLOSE_CODES = {
    Outcome.COMPLETED: CloseCode.NORMAL,
    Outcome.AGENT_FAILED: CloseCode.NORMAL,
    Outcome.AGENT_SILENT: CloseCode.NORMAL,
    Outcome.NO_START: CloseCode.POLICY_VIOLATION,
    Outcome.REFUSED: CloseCode.POLICY_VIOLATION,
    Outcome.PROTOCOL_VIOLATION: CloseCode.POLICY_VIOLATION,
    Outcome.INTERNAL_ERROR: CloseCode.INTERNAL_ERROR,
}
MAX_REASON_BYTES = 123  # what a close frame can carry


def close_reason(outcome: Outcome, reason: str) -> str:
    """``outcome: reason`` within the bytes a close frame allows. Twilio ignores it;
    the softphone shows it, so an operator sees why a call failed (a wrong key, say)."""
    text = f"{outcome.value}: {reason}" if reason else outcome.value
    encoded = text.encode()
    if len(encoded) <= MAX_REASON_BYTES:
        return text
    return encoded[: MAX_REASON_BYTES - 3].decode(errors="ignore") + "…"


def outcome_of(reason: str) -> Outcome | None:
    """The outcome a close reason begins with (what :func:`close_reason` wrote), or None
    for a reason this server did not write."""
    head = reason.partition(":")[0]
    return next((o for o in Outcome if o.value == head), None)
