"""The Gemini Live stand-in, now in the package (``python -m app gemini-standin`` runs
it too): the tests' names for it."""

from app.ops.gemini_standin import (
    DEV_PATH,
    INPUT_MIME,
    OUTPUT_MIME,
    SERVER_KEYS,
    VERTEX_PATH,
    ClientWentAway,
    GeminiStandIn,
    Scenario,
    StandInConnection,
    answer_every_text,
    idle,
    wire_text,
)

__all__ = [
    "DEV_PATH",
    "INPUT_MIME",
    "OUTPUT_MIME",
    "SERVER_KEYS",
    "VERTEX_PATH",
    "ClientWentAway",
    "GeminiStandIn",
    "Scenario",
    "StandInConnection",
    "answer_every_text",
    "idle",
    "wire_text",
]
