"""A call that fails inside the server still ends properly: the caller hears the
apology, the record and metrics are settled, and the process takes the next call."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from app.agent.echo import EchoConnector, EchoSession
from app.agent.events import AgentEvent, HistoryTurn
from app.server.app import create_app
from app.sinks.records import CallRecords
from app.telephony.emulator import TwilioEmulator
from tests.support.calls import CALL_SID, QUESTION
from tests.support.server import AUTH_TOKEN, PUBLIC_URL, serve_asgi, settings_for_echo


class AdapterBug(RuntimeError):
    """Stands for a fault nobody planned for (an SDK change, a bug in an adapter)."""


class BreaksOnce(EchoConnector):
    """The first session fails with an unexpected exception once audio flows; later
    sessions are the plain echo."""

    def __init__(self) -> None:
        self.sessions = 0

    @asynccontextmanager
    async def connect(
        self, resume_handle: str | None = None, history: Sequence[HistoryTurn] = ()
    ) -> AsyncIterator[Any]:
        self.sessions += 1
        if self.sessions > 1:
            async with super().connect(resume_handle) as session:
                yield session
            return
        yield BrokenSession()


class BrokenSession(EchoSession):
    async def events(self) -> AsyncGenerator[AgentEvent, None]:
        raise AdapterBug("'<=' not supported between instances of 'int' and 'NoneType'")
        yield  # pragma: no cover - makes this an async generator


async def test_an_unexpected_fault_ends_the_call_with_the_apology(tmp_path: Path) -> None:
    records = tmp_path / "calls.sqlite3"
    settings = settings_for_echo(call_records_path=str(records))
    app = create_app(settings, connector=BreaksOnce())
    async with serve_asgi(app) as server, httpx.AsyncClient() as http:
        twilio = TwilioEmulator(server.base, PUBLIC_URL, AUTH_TOKEN)
        stream = await twilio.open_stream(await twilio.incoming_call(CALL_SID))
        await stream.replay(QUESTION[:10], stop=False)
        await stream.wait_closed()
        assert stream.closed_code == 1011
        assert stream.closed_reason.startswith("internal_error")
        # Twilio asks the <Connect action> what next: the apology, then hang up.
        after = ET.fromstring((await twilio.call_ended(CALL_SID)).text)
        assert [el.tag for el in after] == ["Say", "Hangup"]
        assert after[0].text == settings.apology_message
        metrics = (await http.get(server.base + "/metrics")).text
        assert "phonebot_active_calls 0.0" in metrics
        assert 'phonebot_calls_total{outcome="internal_error"} 1.0' in metrics
        # The process goes on: the next call is served normally.
        second = "CA" + "2" * 32
        stream = await twilio.open_stream(await twilio.incoming_call(second))
        await stream.replay(QUESTION[:10], stop=False)
        await stream.stop(second)
        await stream.wait_closed()
        assert stream.closed_code == 1000
    outcomes = {r["call_sid"]: r["outcome"] for r in CallRecords(records).recent()}
    assert outcomes == {CALL_SID: "internal_error", second: "completed"}
