"""The built-in tools the call itself answers: hanging up, and transferring."""

from __future__ import annotations

from app.tools.declare import Tool

END_CALL = "end_call"
TRANSFER_CALL = "transfer_call"


def end_call_tool() -> Tool:
    """The built-in hang-up: the bridge ends the call once the goodbye has been heard."""
    return Tool(
        name=END_CALL,
        description=(
            "End the phone call. Use it when the conversation is finished or the caller"
            " wants to hang up; say a short goodbye first or right after."
        ),
        parameters={
            "type": "object",
            "properties": {"reason": {"type": "string", "description": "Why, in a few words."}},
            "required": [],
        },
        function=None,
    )


def transfer_call_tool(targets: list[str]) -> Tool:
    """The built-in transfer to one of the operator's configured numbers."""
    return Tool(
        name=TRANSFER_CALL,
        description=(
            "Transfer the caller to a person. Use it when the caller asks for a human or"
            " needs help you cannot give. Tell the caller you are transferring them."
        ),
        parameters={
            "type": "object",
            "properties": {
                "target": {"type": "string", "enum": targets, "description": "Who to transfer to."}
            },
            "required": ["target"],
        },
        function=None,
    )
