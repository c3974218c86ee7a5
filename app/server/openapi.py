"""The OpenAPI 3.1 document the server serves at ``/openapi.json``.

It describes the operator API (``/calls…``, ``/healthz``, ``/metrics``), the Twilio
webhooks and the softphone, with every answer a route can give, so a client (or a
fuzzer) can hold the server to it. ``tests/`` checks that it names exactly the routes
the app serves.
"""

from __future__ import annotations

from typing import Any

from app.server.openapi_parts import (
    BAD,
    CALL,
    CALL_SID,
    HEALTH,
    NO_CONTENT,
    SID_PARAMETER,
    STATUS_FORM,
    THROTTLED,
    TOO_BIG,
    TWIML_ANSWER,
    UNAUTHORISED,
    WEBHOOK_FORM,
    body,
    content,
    control,
    error,
    pattern,
    text_body,
    webhook,
)
from app.server.softphone import ASSETS
from app.telephony import sids

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
FOREIGN_PAGE = error("Addressed to a host this server does not answer as, or from its page.")
ICON_ANSWERS = {"400": BAD}
SOFTPHONE: dict[str, Any] = {
    "/favicon.ico": {
        "get": {
            "summary": "The softphone pages' icon (32×32, a PNG inside an ICO).",
            "responses": {
                "200": {
                    "description": "The icon.",
                    "content": {"image/x-icon": {"schema": {"type": "string"}}},
                },
                **ICON_ANSWERS,
            },
        }
    },
    "/favicon.svg": {
        "get": {
            "summary": "The softphone pages' icon, drawn in SVG.",
            "responses": {
                "200": {
                    "description": "The icon.",
                    "content": {"image/svg+xml": {"schema": {"type": "string"}}},
                },
                **ICON_ANSWERS,
            },
        }
    },
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
                "200": content(
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
                "401": error("Not signed in."),
                "403": FOREIGN_PAGE,
                "413": TOO_BIG,
                "503": error("No capacity, or shutting down."),
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


def health_paths() -> dict[str, Any]:
    return {
        "/healthz": {
            "get": {
                "summary": "Readiness and load.",
                "responses": {
                    "200": content(HEALTH, "Ready."),
                    "503": content(HEALTH, "Draining: shutting down, no new calls."),
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
                "responses": {"200": content({"type": "object"}, "The OpenAPI document.")},
            }
        },
    }


CALLS: dict[str, Any] = {
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
            "200": content(
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
            "404": error("Call records are off (CALL_RECORDS_PATH is empty)."),
        },
    },
    "post": {
        "summary": "Have the bot call a number.",
        "security": [{"operator": []}],
        "requestBody": body(
            {
                "type": "object",
                "required": ["to"],
                "properties": {"to": pattern(sids.E164.pattern)},
                "example": {"to": "+15557654321"},
            }
        ),
        "responses": {
            "201": content(
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
            "502": error("Twilio refused or could not be reached."),
            "503": error("Outbound calls are not configured; the error names what is missing."),
        },
    },
}


def operator_paths() -> dict[str, Any]:
    return {
        "/calls": CALLS,
        "/calls/{call_sid}": {
            "get": {
                "summary": "One call with its transcript.",
                "security": [{"operator": []}],
                "parameters": [SID_PARAMETER],
                "responses": {
                    "200": content(CALL, "The call's record."),
                    "400": BAD,
                    "401": UNAUTHORISED,
                    "429": THROTTLED,
                    "404": error("No record of that call, or call records are off."),
                },
            }
        },
        "/calls/{call_sid}/recording": {
            "get": {
                "summary": "The call's recording (stereo WAV: caller left, agent right).",
                "security": [{"operator": []}],
                "parameters": [
                    SID_PARAMETER,
                    {
                        "name": "leg",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "integer", "minimum": 1, "maximum": 100},
                    },
                ],
                "responses": {
                    "200": {"description": "The WAV file.", "content": {"audio/wav": {}}},
                    "400": BAD,
                    "401": UNAUTHORISED,
                    "429": THROTTLED,
                    "404": error("No recording of that call (or leg), or recordings are off."),
                    "409": error("The call is in progress: its recording is not complete."),
                    "503": error("The fleet's registry (Redis) is unreachable."),
                },
            }
        },
        "/calls/{call_sid}/say": {
            "post": control(
                "Send an instruction into the live session.",
                text_body("text", "Tell the caller their order shipped.", 2000),
            )
        },
        "/calls/{call_sid}/hangup": {
            "post": control("Say goodbye, then hang up once it was heard.", None)
        },
        "/calls/{call_sid}/transfer": {
            "post": control(
                "Tell the caller, then dial one of TRANSFER_TARGETS.",
                text_body("target", "sales", 64),
            )
        },
    }


WEBHOOKS: dict[str, Any] = {
    "/incoming-call": webhook("Twilio's voice webhook.", WEBHOOK_FORM, TWIML_ANSWER),
    "/call-ended": webhook("The <Connect action>.", WEBHOOK_FORM, TWIML_ANSWER),
    "/stream-status": webhook("The <Stream statusCallback>.", STATUS_FORM, NO_CONTENT),
    "/call-status": webhook("The call status callback.", STATUS_FORM, NO_CONTENT),
}


def document(public_base: str | None, *, softphone: bool) -> dict[str, Any]:
    """The whole document; ``servers`` names PUBLIC_URL when it is set."""
    paths = {**health_paths(), **operator_paths(), **WEBHOOKS}
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
