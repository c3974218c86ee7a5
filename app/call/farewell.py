"""Ending a call on purpose: the goodbye (the time limit, a silent caller, an operator,
shutdown), the agent's ``end_call`` and ``transfer_call`` tools, an operator's transfer,
and leaving once the last words were heard. Pure: the clock is passed in."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.call.actions import Action, Hangup, SendText, Transfer, info
from app.call.ending import Departure, Ending
from app.call.outcome import Outcome


class Farewell:
    def __init__(
        self, ending: Ending, goodbye_instruction: str, targets: Mapping[str, str]
    ) -> None:
        self.ending = ending
        self._goodbye_instruction = goodbye_instruction
        self._targets = targets

    @staticmethod
    def leave(departure: Departure) -> list[Action]:
        """The last words were heard: transfer, if that is how it ends, then hang up."""
        actions: list[Action] = []
        if departure.transfer is not None:
            actions.append(Transfer(*departure.transfer))
        return [*actions, Hangup(Outcome.COMPLETED, departure.reason)]

    def say_goodbye(self, reason: str, now: float) -> list[Action]:
        """Have the agent say goodbye, then end the call once it was heard (once)."""
        if not self.ending.begin(reason, now):
            return []
        return [
            info("ending the call (%s): asking the agent to say goodbye", reason),
            SendText(self._goodbye_instruction),
        ]

    def end_call_tool(self, args: dict[str, Any], now: float) -> dict[str, Any]:
        reason = str(args.get("reason") or "the agent ended the call")
        self.ending.begin(f"end_call: {reason}", now)
        return {
            "result": "The call ends once your goodbye has been heard."
            " Say a short goodbye now if you have not yet."
        }

    def transfer_tool(
        self, args: dict[str, Any], now: float
    ) -> tuple[dict[str, Any], list[Action]]:
        name = str(args.get("target", ""))
        number = self._targets.get(name)
        if number is None:
            known = ", ".join(self._targets)
            return {"error": {"type": "unknown_target", "message": f"choose one of: {known}"}}, []
        self.ending.transfer_to(name, number, now)
        log = info("transfer to %s requested; connecting after the notice is heard", name)
        answer = (
            f"Tell the caller in one short sentence that you are connecting them to {name} now."
        )
        return {"result": answer}, [log]

    def operator_transfer(self, target: str, now: float) -> tuple[str | None, list[Action]]:
        """Transfer as the built-in tool does; (a problem to report, or None; actions)."""
        answer, actions = self.transfer_tool({"target": target}, now)
        if "error" in answer:
            return str(answer["error"]["message"]), actions
        return None, [*actions, SendText(str(answer["result"]))]

    @staticmethod
    def operator_say(instruction: str) -> list[Action]:
        return [info("operator instruction: %r", instruction), SendText(instruction)]
