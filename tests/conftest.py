from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.gemini_standin import GeminiStandIn

FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture
async def standin(tmp_path: Path) -> AsyncIterator[GeminiStandIn]:
    async with GeminiStandIn(tmp_path) as server:
        yield server
        assert not server.errors, server.errors
