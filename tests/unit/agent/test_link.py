"""AgentLink with fake sessions: exact orderings, bounds and policies.

The same behaviours run end to end through the real SDK in test_resilience.py.
"""

from __future__ import annotations

import asyncio
import logging
import random

import pytest

from app.agent.events import (
    AgentAudio,
    AgentEvent,
    GoAway,
    HistoryTurn,
    Ignored,
    ResumptionHandle,
    ToolCall,
    TurnComplete,
)
from app.agent.link import AgentLink, LinkEvent
from app.agent.link_state import LinkPolicy, SessionSwitched
from app.errors import AgentSessionError
from tests.support.fakes import FakeConnector, FakeSession

log = logging.getLogger("test")
FAST = LinkPolicy(backoff_base_s=0.001, backoff_cap_s=0.002, max_attempts=4, max_reconnect_s=5)


def chunk(i: int) -> bytes:
    return i.to_bytes(4, "big") * 160  # 640 bytes = 20 ms at 16 kHz, tagged with i


async def collect(link: AgentLink, until: int) -> list[LinkEvent]:
    """Read events until ``until`` of them, or a session switch, arrived."""
    events: list[LinkEvent] = []
    async for event in link.events():
        events.append(event)
        if len(events) >= until or isinstance(event, SessionSwitched):
            break
    return events


async def collect_into(link: AgentLink, events: list[LinkEvent]) -> None:
    async for event in link.events():
        events.append(event)


async def test_audio_while_disconnected_is_held_and_sent_in_order() -> None:
    sessions = [FakeSession([0.05, AgentSessionError("drop", retryable=True)]), FakeSession()]
    connector = FakeConnector(lambda i: sessions[i])
    link = AgentLink(connector, FAST, log)
    events: list[LinkEvent] = []
    reader = asyncio.create_task(collect_into(link, events))
    for i in range(40):
        await link.send_audio(chunk(i))
        await asyncio.sleep(0.003)
    await asyncio.sleep(0.02)
    reader.cancel()
    assert isinstance(events[0], SessionSwitched) and events[0].reason == "reconnect"
    delivered = b"".join(sessions[0].audio + sessions[1].audio)
    assert delivered == b"".join(chunk(i) for i in range(40))  # each chunk once, in order
    assert len(sessions[1].audio) > 0


async def test_buffer_is_bounded_and_drops_the_oldest() -> None:
    link = AgentLink(FakeConnector(lambda i: FakeSession()), LinkPolicy(buffer_ms=100), log)
    for i in range(10):  # 200 ms while nothing is connected
        await link.send_audio(chunk(i))
    assert link.stats.dropped_ms == 100 and link.stats.buffered_peak_ms == 120
    reader = asyncio.create_task(collect(link, 1))
    await asyncio.sleep(0.05)
    session = link._session
    assert isinstance(session, FakeSession)
    assert session.audio == [chunk(i) for i in range(5, 10)]
    reader.cancel()


async def test_the_latest_resumable_handle_is_presented() -> None:
    script: list[AgentEvent | Exception | float] = [
        ResumptionHandle("h1", True),
        ResumptionHandle("h2", False),  # mid-generation: not resumable
        AgentSessionError("drop", retryable=True),
    ]
    connector = FakeConnector(lambda i: FakeSession(script if i == 0 else []))
    link = AgentLink(connector, FAST, log)
    events = await collect(link, 3)
    assert isinstance(events[-1], SessionSwitched)
    assert connector.handles == [None, "h1"]


async def test_goaway_waits_for_a_clean_point_then_makes_before_breaking() -> None:
    pcm = bytes(960)
    first = FakeSession(
        [
            ResumptionHandle("h1", True),
            AgentAudio(pcm),
            GoAway(30.0),
            AgentAudio(pcm),
            ResumptionHandle("h2", True),
            TurnComplete(),
        ]
    )
    second = FakeSession()
    connector = FakeConnector(lambda i: [first, second][i])
    link = AgentLink(connector, FAST, log)
    events = await collect(link, 7)
    kinds = [type(e).__name__ for e in events]
    assert kinds == [
        "ResumptionHandle",
        "AgentAudio",
        "GoAway",
        "AgentAudio",
        "ResumptionHandle",
        "TurnComplete",
        "SessionSwitched",
    ]
    assert connector.handles == [None, "h2"]  # opened after the turn, with the newest handle
    assert first.closed and not second.closed
    assert link.stats.switches == 1 and link.stats.reconnects == 0


async def test_goaway_mid_reply_switches_at_the_deadline_if_the_reply_never_ends() -> None:
    trickle: list[AgentEvent | Exception | float] = [0.02, AgentAudio(b"\0\0")] * 10
    first = FakeSession([AgentAudio(b"\0\0"), GoAway(2.05), *trickle])
    connector = FakeConnector(lambda i: [first, FakeSession()][i])
    policy = LinkPolicy(switch_margin_s=2.0)  # deadline = 0.05 s after goAway
    link = AgentLink(connector, policy, log)
    events = await collect(link, 30)
    switched = [e for e in events if isinstance(e, SessionSwitched)]
    assert switched and switched[0].reason == "go_away"


@pytest.mark.parametrize("code", [1008, 1007, 401, 403])
async def test_client_faults_are_not_retried(code: int) -> None:
    connector = FakeConnector(lambda i: AgentSessionError("no", code=code, retryable=False))
    link = AgentLink(connector, FAST, log)
    with pytest.raises(AgentSessionError):
        await collect(link, 1)
    assert len(connector.handles) == 1


async def test_retries_are_bounded_with_growing_jittered_delays() -> None:
    connector = FakeConnector(lambda i: AgentSessionError("down", code=1011, retryable=True))
    slept: list[float] = []
    real_sleep = asyncio.sleep

    async def record(delay: float) -> None:
        slept.append(delay)
        await real_sleep(0)

    policy = LinkPolicy(max_attempts=5, backoff_base_s=0.1, backoff_cap_s=0.5, max_reconnect_s=60)
    link = AgentLink(connector, policy, log, rng=random.Random(7))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("app.agent.link.asyncio.sleep", record)
        with pytest.raises(AgentSessionError, match="gave up after 6 attempts"):
            await collect(link, 1)
    assert len(connector.handles) == 6
    caps = [min(0.5, 0.1 * 2**n) for n in range(1, 6)]
    assert all(0 <= d <= cap for d, cap in zip(slept, caps, strict=True))
    assert len(set(slept)) == len(slept)  # jittered


async def test_texts_wait_for_the_session_in_order_with_audio() -> None:
    session = FakeSession()
    link = AgentLink(FakeConnector(lambda i: session), FAST, log)
    await link.send_text("greet")
    await link.send_audio(chunk(1))
    reader = asyncio.create_task(collect(link, 1))
    await asyncio.sleep(0.02)
    assert session.texts == ["greet"] and session.audio == [chunk(1)]
    reader.cancel()


async def test_a_pending_tool_call_is_not_a_clean_point_for_goaway() -> None:
    first = FakeSession([ToolCall("c1", "lookup", {}), GoAway(30.0), 0.05, TurnComplete()])
    second = FakeSession()
    connector = FakeConnector(lambda i: [first, second][i])
    link = AgentLink(connector, FAST, log)
    events: list[LinkEvent] = []
    reader = asyncio.create_task(collect_into(link, events))
    await asyncio.sleep(0.1)
    # The turn completed after goAway, but the tool call is unanswered: no switch yet.
    assert len(connector.handles) == 1
    assert await link.send_tool_response(ToolCall("c1", "lookup", {}), {"result": 1}, None)
    assert first.tool_responses == [("c1", "lookup", {"result": 1}, None)]
    reader.cancel()


async def test_answers_for_a_session_that_is_gone_are_dropped() -> None:
    first = FakeSession([ToolCall("c1", "lookup", {}), AgentSessionError("drop", retryable=True)])
    second = FakeSession()
    link = AgentLink(FakeConnector(lambda i: [first, second][i]), FAST, log)
    await collect(link, 2)
    assert not await link.send_tool_response(ToolCall("c1", "lookup", {}), {"result": 1}, None)
    assert first.tool_responses == [] and second.tool_responses == []


async def test_a_reconnect_reports_how_many_attempts_it_took() -> None:
    made: list[FakeSession | Exception] = [
        FakeSession([AgentSessionError("drop", retryable=True)]),
        AgentSessionError("still down", code=1011, retryable=True),
        FakeSession(),
    ]
    link = AgentLink(FakeConnector(lambda i: made[i]), FAST, log)
    [switched] = await collect(link, 1)
    assert isinstance(switched, SessionSwitched)
    assert (switched.reason, switched.attempts) == ("reconnect", 2)


async def test_calls_without_an_id_are_told_apart_and_answered_by_name() -> None:
    """Older Vertex AI models send calls with no id: two of them in flight are two calls,
    each answered once, with its name and no id."""
    first, second = ToolCall("", "lookup", {"q": 1}), ToolCall("", "lookup", {"q": 2})
    session = FakeSession([first, second])
    link = AgentLink(FakeConnector(lambda i: session), FAST, log)
    assert await collect(link, 2) == [first, second]
    assert first.key != second.key
    assert await link.send_tool_response(second, {"result": 2}, None)
    assert await link.send_tool_response(first, {"result": 1}, None)
    assert not await link.send_tool_response(first, {"result": 1}, None)  # answered already
    assert session.tool_responses == [
        ("", "lookup", {"result": 2}, None),
        ("", "lookup", {"result": 1}, None),
    ]


async def test_skipped_messages_are_counted_logged_once_and_not_passed_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="test")
    odd = Ignored(("linkTestOnlyKey",), "google-genai x does not know it")
    session = FakeSession([odd, AgentAudio(b"ab"), odd, TurnComplete()])
    link = AgentLink(FakeConnector(lambda i: session), FAST, log)
    assert await collect(link, 2) == [AgentAudio(b"ab"), TurnComplete()]
    assert link.stats.ignored_messages == 2 and link.stats.reconnects == 0
    lines = [r.getMessage() for r in caplog.records if "linkTestOnlyKey" in r.getMessage()]
    assert lines == [
        "skipped a Gemini message with top-level key(s) 'linkTestOnlyKey': google-genai x does"
        " not know it; the call and its session go on (logged once per kind)"
    ]


HISTORY = (HistoryTurn("caller", "When do you open?"), HistoryTurn("agent", "At nine."))


async def renewed(link: AgentLink, *, resume: bool) -> list[LinkEvent]:
    """Ask for a renewal once the first session carries the call; the events until the
    new session does."""
    reader = asyncio.create_task(collect(link, 10))
    while link._session is None:
        await asyncio.sleep(0.001)
    link.renew(HISTORY, resume=resume)
    await link.send_text("answer now")  # held for the new session
    return await reader


async def test_a_renewal_resumes_with_the_latest_handle_and_sends_what_was_held() -> None:
    first = FakeSession([ResumptionHandle("h1", True)])
    second = FakeSession()
    connector = FakeConnector(lambda i: [first, second][i])
    link = AgentLink(connector, FAST, log)
    events = await renewed(link, resume=True)
    assert events[-1] == SessionSwitched("renewal", events[-1].gap_ms, 1, "h1")  # type: ignore[union-attr]
    assert connector.handles == [None, "h1"] and connector.histories == [(), ()]
    assert first.closed and first.texts == [] and second.texts == ["answer now"]
    assert (link.stats.renewals, link.stats.reconnects) == (1, 0)


async def test_a_refused_resumption_falls_back_to_a_fresh_session_told_the_conversation() -> None:
    first = FakeSession([ResumptionHandle("h1", True)])
    fresh = FakeSession()
    made: list[FakeSession | Exception] = [
        first,
        AgentSessionError("resumption refused", code=1011, retryable=True),  # tried once
        fresh,
    ]
    connector = FakeConnector(lambda i: made[i])
    link = AgentLink(connector, FAST, log)
    events = await renewed(link, resume=True)
    switched = events[-1]
    assert isinstance(switched, SessionSwitched)
    assert (switched.reason, switched.attempts, switched.handle) == ("renewal", 1, None)
    assert connector.handles == [None, "h1", None]
    assert connector.histories == [(), (), HISTORY]
    assert fresh.history == HISTORY and fresh.texts == ["answer now"]
    assert link.handle is None  # the old context is gone: never presented again


async def test_a_renewal_without_a_handle_or_asked_fresh_seeds_a_new_session() -> None:
    for script, resume in (([], True), ([ResumptionHandle("h1", True)], False)):
        sessions = [FakeSession(list(script)), FakeSession()]
        connector = FakeConnector(lambda i, s=sessions: s[i])  # type: ignore[misc]
        events = await renewed(AgentLink(connector, FAST, log), resume=resume)
        assert isinstance(events[-1], SessionSwitched) and events[-1].handle is None
        assert connector.handles == [None, None] and connector.histories == [(), HISTORY]


async def test_a_renewal_without_a_session_does_nothing() -> None:
    connector = FakeConnector(lambda i: FakeSession())
    link = AgentLink(connector, FAST, log)
    link.renew(HISTORY, resume=True)
    assert link._renewal is None and link._closing is None and connector.handles == []


async def test_a_1007_after_setup_is_retried_once_with_the_handle_then_fatal() -> None:
    def closed_1007() -> AgentSessionError:
        return AgentSessionError("invalid frame payload data", code=1007, retryable=False)

    made: list[FakeSession | Exception] = [
        FakeSession([ResumptionHandle("h1", True), closed_1007()]),
        FakeSession([ResumptionHandle("h2", True), 0.01, closed_1007()]),
        FakeSession(),
    ]
    connector = FakeConnector(lambda i: made[i])
    link = AgentLink(connector, FAST, log)
    events: list[LinkEvent] = []
    with pytest.raises(AgentSessionError) as raised:
        await collect_into(link, events)
    assert raised.value.code == 1007
    assert [type(e).__name__ for e in events] == [
        "ResumptionHandle",
        "SessionSwitched",
        "ResumptionHandle",
    ]
    assert connector.handles == [None, "h1"] and link.stats.reconnects == 1
