"""The OpenAPI document's parts: the schemas of what the routes take and answer,
and the small builders of its operations."""

from __future__ import annotations

from typing import Any

from app.telephony import sids

JSON = "application/json"
Schema = dict[str, Any]

ERROR: Schema = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "string", "description": "What is wrong, in a sentence."}},
}
CALL_SID: Schema = {
    "type": "string",
    "description": "A Twilio CallSid (CA + 32 hex digits) or a softphone call (SP + 32 hex).",
    "pattern": f"^({sids.CALL_SID.pattern}|{sids.SOFTPHONE_SID.pattern})$",
}
TURN: Schema = {
    "type": "object",
    "properties": {
        "speaker": {"enum": ["caller", "agent"]},
        "text": {"type": "string"},
        "heard_text": {"type": "string", "description": "What the caller actually heard."},
        "interrupted": {"type": "integer", "enum": [0, 1]},
        "sent_ms": {"type": "number"},
        "heard_ms": {"type": "number"},
        "at": {"type": "number"},
        "end_reason": {"type": "string", "description": "Gemini's turnCompleteReason, if any."},
        "waiting_for_input": {"type": "integer", "enum": [0, 1]},
        "status": {"type": "string", "description": "Gemini's interactionStatus, if any."},
    },
}
RECOVERY: Schema = {
    "type": "object",
    "properties": {
        "at": {"type": "number"},
        "cause": {
            "enum": ["empty_turn", "no_reply", "stopped", "mute_after_interrupt"],
            "description": "Why the agent owed the caller audio.",
        },
        "step": {"enum": ["nudge", "resume", "seed", "apology", "recovered"]},
        "silent_s": {"type": "number", "description": "Dead air the caller had heard."},
    },
}
CALL: Schema = {
    "type": "object",
    "required": ["call_sid"],
    "properties": {
        "call_sid": {"type": "string"},
        "stream_sid": {"type": ["string", "null"]},
        "caller": {"type": ["string", "null"]},
        "called": {"type": ["string", "null"]},
        "direction": {"type": ["string", "null"]},
        "started_at": {"type": ["number", "null"]},
        "ended_at": {"type": ["number", "null"]},
        "duration_s": {"type": ["number", "null"]},
        "outcome": {"type": ["string", "null"]},
        "reason": {"type": ["string", "null"]},
        "reconnects": {"type": ["integer", "null"]},
        "switches": {"type": ["integer", "null"]},
        "tokens": {"type": ["integer", "null"]},
        "tool_calls": {"type": ["integer", "null"]},
        "interruptions": {"type": ["integer", "null"]},
        "dead_air": {"type": ["integer", "null"], "description": "Dead-air episodes recovered."},
        "turns": {"type": "array", "items": TURN},
        "recoveries": {"type": "array", "items": RECOVERY},
    },
}
HEALTH: Schema = {
    "type": "object",
    "required": ["status", "active_calls", "max_concurrent_calls", "signature_validation"],
    "properties": {
        "status": {"enum": ["ok", "draining"]},
        "active_calls": {"type": "integer"},
        "max_concurrent_calls": {"type": "integer"},
        "calls_handled": {"type": "integer"},
        "calls_refused": {"type": "integer"},
        "agent": {"enum": ["gemini", "echo"]},
        "model": {"type": "string", "description": "The Live model (absent in echo mode)."},
        "signature_validation": {"type": "boolean"},
        "warning": {"type": "string"},
    },
}
ACCEPTED: Schema = {
    "type": "object",
    "required": ["status", "call"],
    "properties": {"status": {"type": "string"}, "call": {"type": "string"}},
}
NOT_HERE: Schema = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "string"}, "process": {"type": "string"}},
}


def pattern(regex: str) -> Schema:
    return {"type": "string", "pattern": f"^({regex})$"}


TWILIO_CALL = pattern(sids.CALL_SID.pattern)
ACCOUNT = pattern(sids.ACCOUNT_SID.pattern)
ADDRESS = {"anyOf": [pattern(sids.E164.pattern), pattern(sids.ADDRESS.pattern)]}
WEBHOOK_FORM: Schema = {
    "type": "object",
    "required": ["CallSid"],
    "properties": {
        "CallSid": TWILIO_CALL,
        "AccountSid": ACCOUNT,
        "From": ADDRESS,
        "To": ADDRESS,
        "Direction": {"enum": ["inbound", "outbound-api", "outbound-dial"]},
        "CallStatus": {"type": "string"},
    },
}
STATUS_FORM: Schema = {
    "type": "object",
    "required": ["CallSid"],
    "properties": {
        "CallSid": TWILIO_CALL,
        "AccountSid": ACCOUNT,
        "StreamSid": pattern(sids.STREAM_SID.pattern),
        "StreamEvent": {"enum": ["stream-started", "stream-stopped", "stream-error"]},
        "StreamError": {"type": "string", "maxLength": 1000},
        "CallStatus": {"type": "string", "pattern": "^[a-z-]{1,32}$"},
        "CallDuration": {"type": "string", "pattern": "^[0-9]{1,9}$"},
    },
}


def content(schema: Schema, description: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}}


def error(description: str) -> dict[str, Any]:
    return content(ERROR, description)


def body(schema: Schema) -> dict[str, Any]:
    return {"required": True, "content": {JSON: {"schema": schema}}}


def text_body(name: str, example: str, max_length: int) -> dict[str, Any]:
    return body(
        {
            "type": "object",
            "required": [name],
            "properties": {name: {"type": "string", "minLength": 1, "maxLength": max_length}},
            "example": {name: example},
        }
    )


UNAUTHORISED = error("Missing or wrong bearer token.")
THROTTLED = error("Too many wrong tokens from this address lately; try again in a minute.")
BAD = error("A malformed parameter or body; the error says which and what to send.")
TOO_BIG = error("The body is larger than the route accepts.")
NOT_IN_PROGRESS = content(NOT_HERE, "No process of the deployment holds the call.")
NOT_STARTED = error("The call's stream has not started yet; try again in a moment.")
SID_PARAMETER = {"name": "call_sid", "in": "path", "required": True, "schema": CALL_SID}


def control(summary: str, body: dict[str, Any] | None) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": summary,
        "security": [{"operator": []}],
        "parameters": [SID_PARAMETER],
        "responses": {
            "202": content(ACCEPTED, "Accepted: the call acts on it now."),
            "400": BAD,
            "401": UNAUTHORISED,
            "429": THROTTLED,
            "404": NOT_IN_PROGRESS,
            "409": NOT_STARTED,
            "413": TOO_BIG,
            "503": error("The fleet's registry (Redis) is unreachable; try again shortly."),
            "504": error("The process holding the call did not answer in time."),
        },
    }
    if body is not None:
        operation["requestBody"] = body
    return operation


def webhook(summary: str, form: Schema, answer: dict[str, Any]) -> dict[str, Any]:
    return {
        "post": {
            "summary": summary,
            "security": [{"twilio": []}],
            "requestBody": {
                "required": True,
                "content": {"application/x-www-form-urlencoded": {"schema": form}},
            },
            "responses": {
                **answer,
                "400": {"description": "A form field of the wrong shape."},
                "403": {"description": "A missing or wrong X-Twilio-Signature."},
                "413": {"description": "The body is larger than a Twilio webhook."},
            },
        }
    }


TWIML_ANSWER = {
    "200": {
        "description": "TwiML for the call.",
        "content": {"application/xml": {"schema": {"type": "string"}}},
    }
}
NO_CONTENT = {"204": {"description": "Logged."}}
