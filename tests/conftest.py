from __future__ import annotations

import logging
import os
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
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


# The tiers run fastest first (pytest would take them alphabetically: deploy, e2e,
# unit), so a run shows progress at once; each tier says what it does when it begins.
TIERS = {
    "unit": "the pure modules and the call driver (seconds)",
    "e2e": "real sockets: uvicorn, the SDK over TLS to the stand-in, Chromium (minutes)",
    "deploy": "the wheel installed in fresh venvs, as operators do (several minutes a leg,"
    " with little output until each leg ends)",
}
TESTS = Path(__file__).resolve().parent


def tier_of(path: Path) -> str:
    parts = path.resolve().relative_to(TESTS).parts
    return parts[0] if len(parts) > 1 and parts[0] in TIERS else ""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    order = list(TIERS)
    items.sort(key=lambda item: order.index(tier_of(item.path)) if tier_of(item.path) else -1)
    config.stash[TIERS_RUN] = {tier_of(item.path) for item in items} - {""}


TIERS_RUN = pytest.StashKey[set[str]]()
ANNOUNCED = pytest.StashKey[str]()


def pytest_runtest_logstart(nodeid: str, location: tuple[str, int | None, str]) -> None:
    """Before the first test of each tier, when the run has more than one."""
    config = _config
    if config is None or len(config.stash.get(TIERS_RUN, set())) < 2:
        return
    tier = tier_of(TESTS.parent / location[0])
    if not tier or config.stash.get(ANNOUNCED, "") == tier:
        return
    config.stash[ANNOUNCED] = tier
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        writer = getattr(reporter, "_tw", None)  # pytest's terminal writer: how full the line is
        if getattr(writer, "width_of_current_line", 1):
            reporter.write("\n")  # end the previous tier's line of dots
        reporter.write_line(f"tests/{tier}: {TIERS[tier]}", bold=True)


_config: pytest.Config | None = None


def pytest_configure(config: pytest.Config) -> None:
    global _config
    _config = config


# Dead-air recovery in tests that do not expect it is a false nudge: each such test fails,
# and the session's summary counts them (with the steps the marked tests expected).
DEAD_AIR_LINE = re.compile(
    r"\] dead air \((?P<cause>[a-z_]+), [0-9.]+ s of silence\): step (?P<step>\d)"
)


@dataclass
class DeadAirTally:
    tests: int = 0  # tests that expect no recovery
    unexpected: list[str] = field(default_factory=list)  # "test: cause step n"
    expected_tests: int = 0
    expected: int = 0


TALLY = DeadAirTally()


class DeadAirLines(logging.Handler):
    """Collects every dead-air recovery step a call logs (any call, any logger)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.steps: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        found = DEAD_AIR_LINE.search(record.getMessage())
        if found:
            self.steps.append(f"{found['cause']} step {found['step']}")


@pytest.fixture(autouse=True)
def dead_air_steps(request: pytest.FixtureRequest) -> Iterator[list[str]]:
    """The dead-air steps taken during the test. A test marked ``dead_air`` expects them;
    in any other, one is a false nudge and fails it."""
    lines = DeadAirLines()
    root = logging.getLogger()
    root.addHandler(lines)
    try:
        yield lines.steps
    finally:
        root.removeHandler(lines)
    if request.node.get_closest_marker("dead_air") is not None:
        TALLY.expected_tests += 1
        TALLY.expected += len(lines.steps)
        return
    TALLY.tests += 1
    TALLY.unexpected += [f"{request.node.nodeid}: {step}" for step in lines.steps]
    assert not lines.steps, f"dead-air recovery where none was expected: {lines.steps}"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not TALLY.tests and not TALLY.expected_tests:
        return
    terminalreporter.write_line(
        f"dead air: {len(TALLY.unexpected)} false nudge(s) in {TALLY.tests} tests that expect"
        f" none; {TALLY.expected} recovery step(s) in {TALLY.expected_tests} tests that test it"
    )
    for line in TALLY.unexpected:
        terminalreporter.write_line(f"  false: {line}")
