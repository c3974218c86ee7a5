from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
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
