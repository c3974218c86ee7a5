"""Prometheus metrics from a real call through the stand-in."""

from __future__ import annotations

import asyncio

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.support.calls import QUESTION, REPLY, start_call
from tests.support.gemini_standin import GeminiStandIn, StandInConnection
from tests.support.server import serve_app, settings_for

CALL_SID = QUESTION[1]["start"]["callSid"]


def samples(text: str) -> dict[str, float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            found[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return found


async def test_a_call_shows_up_in_the_metrics(standin: GeminiStandIn) -> None:
    async def scenario(conn: StandInConnection) -> None:
        if conn.index > 0:
            return
        await conn.wait_audio_ms(1500)  # the caller has been speaking
        await conn.send_audio(REPLY[:48000], realtime=4.0)
        await conn.interrupted()
        await conn.usage(42)
        await conn.turn_complete()
        await conn.resumption("h1")
        await conn.go_away("5s")

    standin.scenario = scenario
    async with serve_app(
        settings_for(standin, operator_token="scrape-me-0123456789abcdef0123456789ab")
    ) as server:
        _, stream = await start_call(server)
        await stream.replay(QUESTION, stop=False)
        await stream.wait_for(lambda: bool(stream.clears))
        while len(standin.connections) < 2:
            await asyncio.sleep(0.01)
        await stream.stop(CALL_SID)
        await stream.wait_closed()
        async with httpx.AsyncClient() as http:
            refused = await http.get(server.base + "/metrics")
            page = await http.get(
                server.base + "/metrics",
                headers={"Authorization": "Bearer scrape-me-0123456789abcdef0123456789ab"},
            )
    assert refused.status_code == 401
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/plain")
    found = samples(page.text)
    assert found["phonebot_active_calls"] == 0
    assert found["phonebot_calls_total{outcome=completed}"] == 1
    assert found["phonebot_turn_latency_seconds_count"] == 1
    assert found["phonebot_interrupt_to_clear_seconds_count"] == 1
    assert found["phonebot_gemini_session_switches_total{reason=go_away}"] == 1
    assert found["phonebot_gemini_tokens_total"] == 42
    assert found["phonebot_gemini_errors_total"] == 0


def test_json_log_lines_carry_the_call_ids() -> None:
    import json
    import logging

    from app.call.bridge import CallLog as _CallLog
    from app.logs import JsonFormatter, RedactingFilter

    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = logging.getLogger("test.json")
    logger.addHandler(Keep())
    logger.setLevel(logging.INFO)
    ids = {"call_sid": "CA123", "stream_sid": "MZ456"}
    _CallLog(logger, ids).info("caller said %r with key %s", "hi", "sk-secret-1")
    RedactingFilter(["sk-secret-1"]).filter(records[0])
    line = json.loads(JsonFormatter().format(records[0]))
    assert line["call_sid"] == "CA123" and line["stream_sid"] == "MZ456"
    assert line["level"] == "info" and "sk-secret-1" not in line["message"]
    assert "[redacted]" in line["message"]
