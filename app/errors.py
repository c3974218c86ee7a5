"""Every error the project raises on purpose: one root, small classes that carry their
data, each translated once at the edge (a command's one-line answer, a 4xx with its
sentence, a close code, an apology to the caller)."""

from __future__ import annotations


class PhonebotError(Exception):
    """The root of the project's own errors."""


# settings and startup


class ConfigError(PhonebotError):
    """Settings that cannot run; the message says which variable and what to do."""


class ToolDefinitionError(ConfigError):
    """A tool that cannot be declared; the message names the function and the problem."""


class OutboundNotConfigured(ConfigError):
    """Settings needed for outbound calls are missing; the message names them."""


class IncompatibleDependency(ConfigError):
    """An installed dependency moved a part the server builds on; the message names the
    part and says to install the locked releases."""


class ServiceRefused(ConfigError):
    """The Gemini service answered ``check --online`` with a refusal (a bad key, say)."""

    def __init__(self, status: int | None, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}" if status else message)
        self.status = status


class ServiceUnreachable(PhonebotError):
    """``check --online`` could not reach the Gemini service; the message says why."""


class RecordingsUnusable(PhonebotError):
    """The recordings directory cannot take files; the message says why."""


# a call's peers


class ProtocolError(PhonebotError):
    """A frame from Twilio that this server cannot accept, and why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class SocketClosed(PhonebotError):
    """The media socket is gone (Twilio hung up or the connection dropped)."""

    def __init__(self, code: int | None = None) -> None:
        super().__init__(f"media socket closed (code {code})")
        self.code = code


class TokenRejected(PhonebotError):
    """A stream's token is not a valid, unused, latest token for its call."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class AgentSessionError(PhonebotError):
    """The live session failed; ``retryable`` says whether a new one may help (a 4xx
    or a close for the request's own fault never does)."""

    def __init__(self, reason: str, *, code: int | None = None, retryable: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code
        self.retryable = retryable


class CallControlError(PhonebotError):
    """Acting on the phone call (Twilio's REST API) failed; the message says what and why,
    never the credentials."""


class NotAPhoneNumber(PhonebotError):
    def __init__(self, number: str) -> None:
        super().__init__(f"{number!r} is not a phone number in E.164 form, like +15551234567")
        self.number = number


# the HTTP edge


class BadRequest(PhonebotError):
    """Input a route cannot use; ``message`` says what is wrong and what to send."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class CallNotHere(BadRequest):
    """An operator control for a call this process does not hold."""

    def __init__(self, call_sid: str) -> None:
        super().__init__(
            f"call {call_sid} is not in progress on this server process"
            " (it has ended, never existed, or is held by another process)",
            404,
        )
        self.call_sid = call_sid


class RegistryUnavailable(PhonebotError):
    """The shared registry (Redis) or records database cannot be reached; the message says
    which and why, never its credentials."""


class CallRefused(PhonebotError):
    """The webhook (or the softphone) may not connect this call; ``reason`` says why, and
    ``replayed`` whether it is a call already in progress or over (a replayed webhook:
    no caller to tell that the lines are busy)."""

    def __init__(self, reason: str, *, replayed: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.replayed = replayed


# playing Twilio's part (python -m app replay, and the tests)


class ReplayError(PhonebotError):
    """The replay cannot go on; the message says what to change."""


class TwimlError(PhonebotError):
    """The webhook's answer does not connect a media stream; the message says what it was."""


class WebhookRefused(PhonebotError):
    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"the webhook answered HTTP {status}: {body[:200]}")
        self.status = status


class TwilioWouldReject(PhonebotError):
    """The server sent a message that Twilio would answer with an error (31950/31951)."""


# what the processes of a fleet tell each other


class UntrustedMessage(PhonebotError):
    """A message read from the shared registry that this deployment did not seal (its
    MAC is wrong), that has expired, or that was meant for something else."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ControlTimeout(PhonebotError):
    """The process holding a call did not answer a control in time."""

    def __init__(self, call_sid: str, process: str, timeout_s: float) -> None:
        super().__init__(
            f"the process holding call {call_sid} ({process}) did not answer within"
            f" {timeout_s:g} s; the control may or may not have reached the call"
        )
        self.call_sid = call_sid
        self.process = process
