from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.gemini_standin import GeminiStandIn
from tests.support.server import AUTH_TOKEN, serve_asgi
from tests.support.twilio_rest_standin import TwilioRestStandIn

FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture
async def standin(tmp_path: Path) -> AsyncIterator[GeminiStandIn]:
    async with GeminiStandIn(tmp_path) as server:
        yield server
        assert not server.errors, server.errors


@pytest.fixture
async def rest() -> AsyncIterator[tuple[TwilioRestStandIn, str]]:
    """Twilio's REST API stand-in, and its base URL (for TWILIO_API_BASE_URL)."""
    standin = TwilioRestStandIn(AUTH_TOKEN)
    async with serve_asgi(standin.app()) as running:
        yield standin, running.base
