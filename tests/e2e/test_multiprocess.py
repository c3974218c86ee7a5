"""Two server processes behind a proxy on loopback carry calls side by side."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from app.telephony.emulator import TwilioEmulator
from tests.support.calls import QUESTION, REPLY, answer_question
from tests.support.gemini_standin import GeminiStandIn
from tests.support.process import start_server
from tests.support.proxy import Proxy
from tests.support.server import AUTH_TOKEN, PUBLIC_URL


async def test_two_processes_behind_a_proxy_each_carry_a_call(
    standin: GeminiStandIn, tmp_path: Path
) -> None:
    standin.scenario = answer_question
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first, base_a, _ = await start_server(standin, tmp_path / "a")
    second, base_b, _ = await start_server(standin, tmp_path / "b")
    ports = [int(base.rsplit(":", 1)[1]) for base in (base_a, base_b)]
    try:
        async with Proxy([("127.0.0.1", p) for p in ports]) as proxy:
            twilio = TwilioEmulator(f"http://127.0.0.1:{proxy.port}", PUBLIC_URL, AUTH_TOKEN)
            sids = ["CA" + "a" * 32, "CA" + "b" * 32]
            streams = []
            for sid in sids:  # a token issued by one process is honoured by the other
                streams.append(await twilio.open_stream(await twilio.incoming_call(sid)))
            await asyncio.gather(*(s.replay(QUESTION, stop=False) for s in streams))
            for stream in streams:
                await stream.wait_for(
                    lambda s=stream: len(s.media_received) >= len(REPLY) // 6, timeout=15
                )
            async with httpx.AsyncClient() as http:
                active = [
                    (await http.get(b + "/healthz")).json()["active_calls"]
                    for b in (base_a, base_b)
                ]
            for sid, stream in zip(sids, streams, strict=True):
                await stream.stop(sid)
                await stream.wait_closed()
        assert active == [1, 1]  # one call on each process
        assert len(standin.connections) == 2
        assert all(len(c.audio) > 0 for c in standin.connections)
    finally:
        for process in (first, second):
            process.terminate()
            await asyncio.to_thread(process.wait, 20)
