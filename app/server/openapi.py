"""The OpenAPI 3.1 document the server serves at ``/openapi.json``.

It describes the operator API (``/calls…``, ``/healthz``, ``/metrics``) and the Twilio
webhooks, with every answer a route can give, so a client (or a fuzzer) can hold the
server to it. ``tests/`` checks that it names exactly the routes the app serves.
"""

from __future__ import annotations

from typing import Any

from app.server.softphone import ASSETS
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
        "turns": {"type": "array", "items": TURN},
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
        "model": {"type": "string"},
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


def _pattern(regex: str) -> Schema:
    return {"type": "string", "pattern": f"^({regex})$"}


TWILIO_CALL = _pattern(sids.CALL_SID.pattern)
ACCOUNT = _pattern(sids.ACCOUNT_SID.pattern)
ADDRESS = {"anyOf": [_pattern(sids.E164.pattern), _pattern(sids.ADDRESS.pattern)]}
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
        "StreamSid": _pattern(sids.STREAM_SID.pattern),
        "StreamEvent": {"enum": ["stream-started", "stream-stopped", "stream-error"]},
        "StreamError": {"type": "string", "maxLength": 1000},
        "CallStatus": {"type": "string", "pattern": "^[a-z-]{1,32}$"},
        "CallDuration": {"type": "string", "pattern": "^[0-9]{1,9}$"},
    },
}


def _json(schema: Schema, description: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}}


def _error(description: str) -> dict[str, Any]:
    return _json(ERROR, description)


def _body(schema: Schema) -> dict[str, Any]:
    return {"required": True, "content": {JSON: {"schema": schema}}}


def _text_body(name: str, example: str, max_length: int) -> dict[str, Any]:
    return _body(
        {
            "type": "object",
            "required": [name],
            "properties": {name: {"type": "string", "minLength": 1, "maxLength": max_length}},
            "example": {name: example},
        }
    )


UNAUTHORISED = _error("Missing or wrong bearer token.")
THROTTLED = _error("Too many wrong tokens from this address lately; try again in a minute.")
BAD = _error("A malformed parameter or body; the error says which and what to send.")
TOO_BIG = _error("The body is larger than the route accepts.")
NOT_IN_PROGRESS = _json(NOT_HERE, "The call is not in progress on this process.")
SID_PARAMETER = {"name": "call_sid", "in": "path", "required": True, "schema": CALL_SID}


def _control(summary: str, body: dict[str, Any] | None) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": summary,
        "security": [{"operator": []}],
        "parameters": [SID_PARAMETER],
        "responses": {
            "202": _json(ACCEPTED, "Accepted: the call acts on it now."),
            "400": BAD,
            "401": UNAUTHORISED,
            "429": THROTTLED,
            "404": NOT_IN_PROGRESS,
            "413": TOO_BIG,
        },
    }
    if body is not None:
        operation["requestBody"] = body
    return operation


def _webhook(summary: str, form: Schema, answer: dict[str, Any]) -> dict[str, Any]:
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


SCRIPTS = sorted(ASSETS)
HTML = {"text/html": {"schema": {"type": "string"}}}
PAGE_OPTIONS = [
    {
        "name": "processing",
        "in": "query",
        "required": False,
        "schema": {"enum": ["on", "off"]},
        "description": "off: no echo cancellation, noise suppression or gain control.",
    },
    {
        "name": "tap",
        "in": "query",
        "required": False,
        "schema": {"enum": ["0", "1"]},
        "description": "1: keep a copy of what was played, for diagnostics.",
    },
]
FOREIGN_PAGE = _error("Addressed to a host this server does not answer as, or from its page.")
SOFTPHONE: dict[str, Any] = {
    "/softphone": {
        "get": {
            "summary": "The softphone page, or its sign-in form.",
            "parameters": [
                *PAGE_OPTIONS,
                {
                    "name": "token",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "string"},
                    "description": "Never signs in (addresses end up in logs): the form.",
                },
            ],
            "responses": {
                "200": {"description": "The page.", "content": HTML},
                "400": BAD,
                "401": {"description": "The sign-in form.", "content": HTML},
                "403": FOREIGN_PAGE,
            },
        },
        "post": {
            "summary": "Sign in with the operator token (sets the softphone's cookie).",
            "parameters": PAGE_OPTIONS,
            "requestBody": {
                "required": True,
                "content": {
                    "application/x-www-form-urlencoded": {
                        "schema": {
                            "type": "object",
                            "required": ["token"],
                            "properties": {"token": {"type": "string"}},
                        }
                    }
                },
            },
            "responses": {
                "303": {"description": "Signed in: the cookie is set; on to the page."},
                "400": BAD,
                "401": {"description": "Not the operator token: the form again.", "content": HTML},
                "403": FOREIGN_PAGE,
                "413": TOO_BIG,
                "429": THROTTLED,
            },
        },
    },
    "/softphone/session": {
        "post": {
            "summary": "A CallSid and a one-use stream token for a browser call.",
            "responses": {
                "200": _json(
                    {
                        "type": "object",
                        "required": ["callSid", "parameters"],
                        "properties": {
                            "callSid": CALL_SID,
                            "parameters": {"type": "object"},
                        },
                    },
                    "Start the stream with these parameters.",
                ),
                "400": BAD,
                "401": _error("Not signed in."),
                "403": FOREIGN_PAGE,
                "413": TOO_BIG,
                "503": _error("No capacity, or shutting down."),
            },
        }
    },
    "/softphone/{name}": {
        "get": {
            "summary": "The page's scripts.",
            "parameters": [
                {"name": "name", "in": "path", "required": True, "schema": {"enum": SCRIPTS}}
            ],
            "responses": {
                "200": {
                    "description": "A script.",
                    "content": {"text/javascript": {"schema": {"type": "string"}}},
                },
                "400": BAD,
                "401": {"description": "Not signed in."},
                "403": FOREIGN_PAGE,
                "404": {"description": "No such script."},
            },
        }
    },
}


def document(public_base: str | None, *, softphone: bool) -> dict[str, Any]:
    """The whole document; ``servers`` names PUBLIC_URL when it is set."""
    calls = {
        "get": {
            "summary": "Recent calls, newest first.",
            "security": [{"operator": []}],
            "parameters": [
                {
                    "name": "last",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 50},
                }
            ],
            "responses": {
                "200": _json(
                    {
                        "type": "object",
                        "required": ["calls"],
                        "properties": {"calls": {"type": "array", "items": CALL}},
                    },
                    "The calls.",
                ),
                "400": BAD,
                "401": UNAUTHORISED,
                "429": THROTTLED,
                "404": _error("Call records are off (CALL_RECORDS_PATH is empty)."),
            },
        },
        "post": {
            "summary": "Have the bot call a number.",
            "security": [{"operator": []}],
            "requestBody": _body(
                {
                    "type": "object",
                    "required": ["to"],
                    "properties": {"to": _pattern(sids.E164.pattern)},
                    "example": {"to": "+15557654321"},
                }
            ),
            "responses": {
                "201": _json(
                    {
                        "type": "object",
                        "required": ["sid", "to", "status"],
                        "properties": {
                            "sid": {"type": "string"},
                            "to": {"type": "string"},
                            "status": {"type": "string"},
                        },
                    },
                    "Twilio is placing the call.",
                ),
                "400": BAD,
                "401": UNAUTHORISED,
                "429": THROTTLED,
                "413": TOO_BIG,
                "502": _error("Twilio refused or could not be reached."),
                "503": _error(
                    "Outbound calls are not configured; the error names what is missing."
                ),
            },
        },
    }
    paths: dict[str, Any] = {
        "/healthz": {
            "get": {
                "summary": "Readiness and load.",
                "responses": {
                    "200": _json(HEALTH, "Ready."),
                    "503": _json(HEALTH, "Draining: shutting down, no new calls."),
                },
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics (bearer token required when OPERATOR_TOKEN is set).",
                "security": [{"operator": []}, {}],
                "responses": {
                    "200": {
                        "description": "The exposition format.",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    },
                    "401": UNAUTHORISED,
                    "429": THROTTLED,
                },
            }
        },
        "/openapi.json": {
            "get": {
                "summary": "This document.",
                "responses": {"200": _json({"type": "object"}, "The OpenAPI document.")},
            }
        },
        "/calls": calls,
        "/calls/{call_sid}": {
            "get": {
                "summary": "One call with its transcript.",
                "security": [{"operator": []}],
                "parameters": [SID_PARAMETER],
                "responses": {
                    "200": _json(CALL, "The call's record."),
                    "400": BAD,
                    "401": UNAUTHORISED,
                    "429": THROTTLED,
                    "404": _error("No record of that call, or call records are off."),
                },
            }
        },
        "/calls/{call_sid}/say": {
            "post": _control(
                "Send an instruction into the live session.",
                _text_body("text", "Tell the caller their order shipped.", 2000),
            )
        },
        "/calls/{call_sid}/hangup": {
            "post": _control("Say goodbye, then hang up once it was heard.", None)
        },
        "/calls/{call_sid}/transfer": {
            "post": _control(
                "Tell the caller, then dial one of TRANSFER_TARGETS.",
                _text_body("target", "sales", 64),
            )
        },
        "/incoming-call": _webhook("Twilio's voice webhook.", WEBHOOK_FORM, TWIML_ANSWER),
        "/call-ended": _webhook("The <Connect action>.", WEBHOOK_FORM, TWIML_ANSWER),
        "/stream-status": _webhook("The <Stream statusCallback>.", STATUS_FORM, NO_CONTENT),
        "/call-status": _webhook("The call status callback.", STATUS_FORM, NO_CONTENT),
    }
    if softphone:
        paths.update(SOFTPHONE)
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "Gemini phone bridge",
            "version": "1",
            "description": "Operator API and Twilio webhooks of the voice-bot server.",
        },
        "paths": paths,
        "components": {
            "securitySchemes": {
                "operator": {"type": "http", "scheme": "bearer", "description": "OPERATOR_TOKEN"},
                "twilio": {"type": "apiKey", "in": "header", "name": "X-Twilio-Signature"},
            }
        },
    }
    if public_base:
        document["servers"] = [{"url": public_base}]
    return document
