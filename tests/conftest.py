from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.support.gemini_standin import GeminiStandIn
from tests.support.server import AUTH_TOKEN, serve_asgi
from tests.support.stores import (
    POSTGRES_MISSING,
    REDIS_MISSING,
    PostgresServer,
    RedisServer,
    missing,
    postgres_available,
    redis_available,
)
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


@pytest.fixture(scope="session")
def redis_server_url() -> Iterator[str]:
    """One real Redis for the whole run (tests keep apart by key prefix)."""
    if os.environ.get("TEST_REDIS_URL"):
        yield os.environ["TEST_REDIS_URL"]
        return
    if not redis_available():
        missing(REDIS_MISSING, "REQUIRE_REDIS")
    server = RedisServer().start()
    try:
        yield server.url
    finally:
        server.close()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer | str]:
    """One real PostgreSQL for the whole run (each test asks for a database of its own)."""
    if os.environ.get("TEST_DATABASE_URL"):
        yield os.environ["TEST_DATABASE_URL"]
        return
    if not postgres_available():
        missing(POSTGRES_MISSING, "REQUIRE_POSTGRES")
    server = PostgresServer().start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def database_url(postgres_server: PostgresServer | str) -> str:
    if isinstance(postgres_server, str):
        return postgres_server
    return postgres_server.database()
