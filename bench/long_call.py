"""A long call through every kind of Gemini connection trouble, accelerated.

Run: ``python -m bench.long_call`` (30 minutes of caller audio, sent 30× faster than
real time; ``--minutes`` and ``--pace`` change that). The real app runs under uvicorn
on loopback; the real google-genai client talks TLS to the Gemini Live stand-in,
which replies after every stretch of caller audio and then either sends ``goAway``
or drops the connection abruptly (close 1011), 10 and 5 times by default. Prints
caller samples sent vs received (and whether they match byte for byte, in order),
agent audio sent vs played, and the switch and reconnect gaps.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from app.audio.convert import InboundConverter, pcm16_to_ulaw
from app.telephony.captures import CALL, build_capture
from app.telephony.emulator import TwilioEmulator
from tests.support.gemini_standin import GeminiStandIn, StandInConnection
from tests.support.server import AUTH_TOKEN, PUBLIC_URL, serve_app, settings_for
from tests.support.signals import to_pcm16

REPLY = to_pcm16(np.sin(np.arange(24 * 400) * 2 * np.pi * 440 / 24000) * 8000)


def plan(go_aways: int, drops: int) -> list[str]:
    """Spread the drops evenly among the goAways; the last session stays."""
    kinds = ["go_away"] * go_aways
    for i in range(drops):
        kinds.insert((i + 1) * len(kinds) // (drops + 1) + i, "drop")
    return [*kinds, "stay"]


async def run(minutes: float, pace: float, go_aways: int, drops: int) -> int:
    kinds = plan(go_aways, drops)
    seconds = 60 * minutes
    per_session_ms = 1000 * seconds / len(kinds) * 0.8
    rng = np.random.default_rng(11)
    ulaw = pcm16_to_ulaw(to_pcm16(rng.normal(0, 3000, int(8000 * seconds))))
    replies_sent = 0

    async def scenario(conn: StandInConnection) -> None:
        nonlocal replies_sent
        kind = kinds[min(conn.index, len(kinds) - 1)]
        await conn.wait_audio_ms(per_session_ms, timeout=3600)
        await conn.resumption(f"handle-{conn.index}")
        await conn.send_audio(REPLY)
        await conn.turn_complete()
        replies_sent += 1
        if kind == "go_away":
            await conn.go_away("30s")
        elif kind == "drop":
            await conn.close(1011, "internal error")

    with tempfile.TemporaryDirectory() as tmp:
        async with GeminiStandIn(Path(tmp), scenario) as standin:
            # Faster than real time on purpose: the per-call audio rate limit is off.
            settings = settings_for(standin, max_audio_rate_factor=0)
            async with serve_app(settings) as server:
                began = time.monotonic()
                twilio = TwilioEmulator(server.base, PUBLIC_URL, AUTH_TOKEN)
                stream = await twilio.open_stream(await twilio.incoming_call(CALL))
                await stream.replay(build_capture(ulaw, stop=False), realtime=pace)
                expected = InboundConverter().convert(ulaw)
                async with asyncio.timeout(120):
                    while sum(len(c.audio) for c in standin.connections) < len(expected):
                        await asyncio.sleep(0.05)
                    while len(stream.heard) < replies_sent * len(REPLY) // 6:
                        await asyncio.sleep(0.05)
                await stream.stop(CALL)
                await stream.wait_closed()
                elapsed = time.monotonic() - began
                await asyncio.sleep(0.1)
                summary = server.calls.recent[-1]
            delivered = b"".join(bytes(c.audio) for c in standin.connections)
            handles = [c.resume_handle for c in standin.connections]

    link = summary.link
    exact = delivered == expected
    print(
        f"simulated call: {seconds / 60:.0f} min of caller audio in {elapsed:.0f} s "
        f"({pace:g}× real time); outcome {summary.outcome.value} ({summary.reason})"
    )
    print(
        f"sessions: {len(handles)}; goAway switches {link.switches}, reconnects "
        f"{link.reconnects}, failed attempts {link.failed_attempts}"
    )
    print(
        f"caller samples sent {len(expected) // 2}, received {len(delivered) // 2}; "
        f"identical and in order: {exact}; dropped {link.dropped_ms:.0f} ms; "
        f"held at most {link.buffered_peak_ms:.0f} ms"
    )
    print(
        f"agent replies sent {replies_sent} ({replies_sent * len(REPLY) // 6} µ-law bytes); "
        f"played at the caller {len(stream.heard)} bytes"
    )
    gaps = link.gaps_ms or [0.0]
    print(
        f"switch/reconnect gaps ms: median {statistics.median(gaps):.1f}, "
        f"max {max(gaps):.1f}, all {[round(g, 1) for g in gaps]}"
    )
    print(f"handles presented: {handles}")
    ok = exact and summary.outcome.value == "completed" and len(handles) == len(kinds)
    return 0 if ok else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--pace", type=float, default=30)
    parser.add_argument("--go-aways", type=int, default=10)
    parser.add_argument("--drops", type=int, default=5)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)  # the call's own log lines would drown the figures
    raise SystemExit(asyncio.run(run(args.minutes, args.pace, args.go_aways, args.drops)))


if __name__ == "__main__":
    main()
