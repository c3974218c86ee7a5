"""Load benchmark: many concurrent calls against the real server process.

Run: ``python -m bench.load`` (defaults: 25, 50, 100 and 200 calls, 20 s each, then
a 30-minute call at 30× real time for the memory soak).

The server is ``python -m app`` in its own process (so its CPU and memory are its
own), talking TLS through the real google-genai client to the Gemini Live stand-in.
This process plays Twilio for every call (caller audio paced in real time, 20 ms
frames) and the stand-in (a 1 s reply after every 3 s of caller audio, sent in
real time as 40 ms chunks; every third reply is interrupted after 300 ms). Both
share the machine's two cores with the server.

Figures, per number of calls:
  in p50/p99    ms from the client sending a caller frame to the stand-in receiving it
  out p50/p99   ms from the stand-in sending an agent chunk to the client receiving it
  clear p99     ms from the stand-in's `interrupted` to the client receiving `clear`
  CPU           server CPU, % of one core per call, and CPU seconds per call-minute
  RSS           server resident memory per call (MiB), over the idle server
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
import websockets

from app.audio.convert import pcm16_to_ulaw
from app.telephony.captures import STREAM, build_capture
from app.telephony.emulator import TwilioEmulator
from tests.support.gemini_standin import GeminiStandIn, StandInConnection
from tests.support.server import AUTH_TOKEN, PUBLIC_URL, free_port, standin_env
from tests.support.signals import to_pcm16

CLK_TCK = os.sysconf("SC_CLK_TCK")
REPLY = to_pcm16(np.sin(np.arange(24000) * 2 * np.pi * 300 / 24000) * 6000)  # 1 s
CHUNK = 48 * 40  # 40 ms at 24 kHz, in bytes


def proc_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@dataclass
class CallTrace:
    sent: list[float] = field(default_factory=list)  # caller frame i sent at
    turns: dict[int, list[float]] = field(default_factory=dict)  # turn -> media received at
    clears: list[float] = field(default_factory=list)
    _unassigned: list[float] = field(default_factory=list)


@dataclass
class Replies:
    """What the stand-in sent, per connection: chunk send times and interrupt times."""

    chunks: dict[int, dict[int, list[float]]] = field(default_factory=dict)  # conn -> turn
    interrupts: dict[int, list[float]] = field(default_factory=dict)


def scenario_for(replies: Replies):  # type: ignore[no-untyped-def]
    async def scenario(conn: StandInConnection) -> None:
        chunks = replies.chunks.setdefault(conn.index, {})
        interrupts = replies.interrupts.setdefault(conn.index, [])
        turn = 0
        while True:
            turn += 1
            await conn.wait_audio_ms(3000 * turn, timeout=3600)
            began = time.monotonic()
            for n, offset in enumerate(range(0, len(REPLY), CHUNK)):
                if turn % 3 == 0 and n == 8:  # 320 ms into every third reply
                    interrupts.append(time.monotonic())
                    await conn.interrupted()
                    break
                await asyncio.sleep(max(0.0, began + n * 0.04 - time.monotonic()))
                chunks.setdefault(turn, []).append(time.monotonic())
                await conn.send_audio(REPLY[offset : offset + CHUNK], chunk_ms=40)
            await conn.turn_complete()

    return scenario


async def caller(
    ws: websockets.ClientConnection, frames: list[str], trace: CallTrace, began: float
) -> None:
    for i, frame in enumerate(frames):
        await asyncio.sleep(max(0.0, began + i * 0.02 - time.monotonic()))
        trace.sent.append(time.monotonic())
        await ws.send(frame)


async def listener(ws: websockets.ClientConnection, trace: CallTrace) -> None:
    try:
        async for raw in ws:
            now = time.monotonic()
            message = json.loads(raw)
            kind = message["event"]
            if kind == "media":
                trace._unassigned.append(now)
            elif kind == "mark":  # g{generation}-t{turn}-{seq} follows each media message
                turn = int(message["mark"]["name"].split("-")[1][1:])
                trace.turns.setdefault(turn, []).extend(trace._unassigned)
                trace._unassigned.clear()
            elif kind == "clear":
                trace.clears.append(now)
    except websockets.ConnectionClosed:
        pass


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


# A call is carried "on time" if every frame, both ways, was forwarded within this:
# two frames' worth (strict: a glitch-free call), and what a jitter buffer absorbs.
ON_TIME_MS = 40.0
BUFFERED_MS = 100.0


def process_usage(pid: int) -> Callable[[], tuple[float, float]]:
    """The server's CPU seconds and RSS (MiB) so far, for :func:`run_level`."""
    return lambda: (proc_cpu_s(pid), proc_rss_mib(pid))


async def run_level(
    calls: int,
    seconds: float,
    standin: GeminiStandIn,
    replies: Replies,
    server: str,
    usage: Callable[[], tuple[float, float]],
) -> dict[str, float]:
    first = len(standin.connections)
    rng = np.random.default_rng(3)
    ulaw = pcm16_to_ulaw(to_pcm16(rng.normal(0, 2500, int(8000 * (seconds + 5)))))
    capture = build_capture(ulaw, stop=False)
    twilio = TwilioEmulator(server, PUBLIC_URL, AUTH_TOKEN)
    traces, sockets, tasks = [], [], []
    for n in range(calls):
        instruction = await twilio.incoming_call(f"CA{first + n:032x}")
        ws = await websockets.connect(
            "ws://" + server.removeprefix("http://") + "/media-stream",
            additional_headers=twilio.sign(instruction.url, {}),
            max_size=2**20,
            compression=None,
        )  # as Twilio
        start = {
            **capture[1],
            "start": {
                **capture[1]["start"],
                "callSid": f"CA{first + n:032x}",
                "customParameters": instruction.parameters,
            },
        }
        await ws.send(json.dumps(capture[0]))
        await ws.send(json.dumps(start))
        while len(standin.connections) < first + n + 1:  # one Gemini session per call, in order
            await asyncio.sleep(0.005)
        trace = CallTrace()
        traces.append(trace)
        sockets.append(ws)
        frames = [json.dumps(f) for f in capture[2:]]
        tasks.append(asyncio.create_task(caller(ws, frames, trace, time.monotonic())))
        tasks.append(asyncio.create_task(listener(ws, trace)))
    await asyncio.sleep(2.0)  # let every call settle
    # The generator's own garbage-collection pauses would show up as server latency.
    gc.collect()
    gc.disable()
    cpu0, gen0, t0 = usage()[0], proc_cpu_s(os.getpid()), time.monotonic()
    await asyncio.sleep(seconds)
    cpu1, gen1, t1 = usage()[0], proc_cpu_s(os.getpid()), time.monotonic()
    rss = usage()[1]
    gc.enable()
    for task in tasks:
        task.cancel()
    for ws in sockets:
        await ws.close()
    await asyncio.gather(*tasks, return_exceptions=True)

    inbound, outbound, clears = [], [], []
    on_time = buffered = 0  # calls whose every frame arrived within ON_TIME_MS, BUFFERED_MS
    for i, trace in enumerate(traces):
        conn = standin.connections[first + i]
        times = conn.audio_times
        came_in = [1000 * (r - s) for s, r in zip(trace.sent, times, strict=False) if t0 <= s <= t1]
        settled = t1 - 0.5  # what was sent since may still be on its way
        complete = len(times) >= sum(1 for s in trace.sent if s <= settled)
        went_out: list[float] = []
        for turn, sent in replies.chunks.get(conn.index, {}).items():
            got = trace.turns.get(turn, [])  # chunk n of a reply is media message n of its turn
            went_out += [1000 * (r - s) for s, r in zip(sent, got, strict=False) if t0 <= s <= t1]
            complete = complete and len(got) >= sum(1 for s in sent if s <= settled)
        inbound += came_in
        outbound += went_out
        worst = max(came_in + went_out) if complete and came_in else float("inf")
        on_time += worst <= ON_TIME_MS
        buffered += worst <= BUFFERED_MS
        for at in replies.interrupts.get(conn.index, []):
            later = [c for c in trace.clears if c >= at]
            if later and t0 <= at <= t1:
                clears.append(1000 * (later[0] - at))
    busy = (cpu1 - cpu0) / (t1 - t0)
    return {
        "calls": calls,
        "in_p50": pct(inbound, 50),
        "in_p99": pct(inbound, 99),
        "out_p50": pct(outbound, 50),
        "out_p99": pct(outbound, 99),
        "clear_p99": pct(clears, 99),
        "cpu_pct_per_call": 100 * busy / calls,
        "cpu_s_per_call_min": 60 * busy / calls,
        "rss_mib": rss,
        "samples": len(inbound),
        "server_cores": busy,
        "generator_cores": (gen1 - gen0) / (t1 - t0),
        "on_time_calls": on_time,
        "buffered_calls": buffered,
        "all_p99": pct(inbound + outbound, 99),
    }


async def soak(minutes: float, pace: float, standin: GeminiStandIn, server: str, pid: int) -> None:
    """One call of ``minutes`` of caller audio sent ``pace``× real time; server RSS sampled."""
    rng = np.random.default_rng(5)
    ulaw = pcm16_to_ulaw(to_pcm16(rng.normal(0, 2500, int(8000 * 60 * minutes))))
    capture = build_capture(ulaw, stop=False)
    twilio = TwilioEmulator(server, PUBLIC_URL, AUTH_TOKEN)
    instruction = await twilio.incoming_call("CA" + "5" * 32)
    ws = await websockets.connect(
        "ws://" + server.removeprefix("http://") + "/media-stream",
        additional_headers=twilio.sign(instruction.url, {}),
        compression=None,
    )
    start = {
        **capture[1],
        "start": {
            **capture[1]["start"],
            "callSid": "CA" + "5" * 32,
            "customParameters": instruction.parameters,
        },
    }
    await ws.send(json.dumps(capture[0]))
    await ws.send(json.dumps(start))
    trace = CallTrace()
    listening = asyncio.create_task(listener(ws, trace))
    frames = [json.dumps(f) for f in capture[2:]]
    samples: list[tuple[float, float]] = []
    began = time.monotonic()
    for i, frame in enumerate(frames):
        if i % 50 == 0:
            await asyncio.sleep(max(0.0, began + i * 0.02 / pace - time.monotonic()))
        if i % (len(frames) // 10) == 0:
            samples.append((i * 0.02 / 60, proc_rss_mib(pid)))
        await ws.send(frame)
    samples.append((len(frames) * 0.02 / 60, proc_rss_mib(pid)))
    await ws.close()
    listening.cancel()
    series = ", ".join(f"{m:.0f} min {r:.1f}" for m, r in samples)
    print(
        f"\nsoak: one call, {minutes:g} min of caller audio at {pace:g}× real time, "
        f"{len(trace.turns)} agent replies; server RSS (MiB) by call minute: {series}"
    )
    print(
        f"RSS growth over the call: {samples[-1][1] - samples[1][1]:+.1f} MiB "
        f"(from minute {samples[1][0]:.0f} to the end)"
    )


async def wait_healthy(server: str, timeout_s: float) -> None:
    """Until the server answers /healthz (at most ``timeout_s``)."""
    async with httpx.AsyncClient() as http:
        for _ in range(int(timeout_s * 10)):
            try:
                await http.get(server + "/healthz")
                return
            except httpx.ConnectError:
                await asyncio.sleep(0.1)


def server_command(kind: str, port: int) -> list[str]:
    """``app`` (python -m app), or ``LOOP/WS`` for uvicorn with that event loop and
    WebSocket implementation (to compare the choices; same app, same limits)."""
    if kind == "app":
        return [sys.executable, "-m", "app"]
    loop, ws = kind.split("/")
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "app.main:app",
        "--port",
        str(port),
        "--loop",
        loop,
        "--ws",
        ws,
        "--ws-max-size",
        "65536",
        "--ws-per-message-deflate",
        "false",
        "--log-level",
        "warning",
    ]


async def main(levels: list[int], seconds: float, soak_minutes: float, server_kind: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        replies = Replies()
        standin = GeminiStandIn(Path(tmp), scenario_for(replies))
        standin.keep_audio = False
        async with standin:
            port = free_port()
            env = standin_env(
                standin,
                port,
                LOG_LEVEL="warning",
                MAX_CONCURRENT_CALLS="1000",
                MAX_MESSAGES_PER_SECOND="100000",
                MAX_AUDIO_RATE_FACTOR="0",
            )  # the soak sends 30x real time
            process = subprocess.Popen(server_command(server_kind, port), cwd=tmp, env=env)
            server = f"http://127.0.0.1:{port}"
            try:
                await wait_healthy(server, 10)
                idle_rss = proc_rss_mib(process.pid)
                print(
                    f"server: {' '.join(server_command(server_kind, port)[1:])}\n"
                    f"server idle RSS {idle_rss:.1f} MiB; {seconds:g} s measured per level; "
                    f"stream {STREAM[:6]}…; load generator and stand-in share the machine\n"
                )
                header = (
                    f"{'calls':>5} {'in p50':>7} {'in p99':>7} {'out p50':>8} {'out p99':>8}"
                    f" {'clear p99':>9} {'CPU %/call':>10} {'CPU s/call-min':>14}"
                    f" {'MiB/call':>9}  cores: server + generator"
                )
                print(header)
                print("-" * len(header))
                best = 0
                for calls in levels:
                    usage = process_usage(process.pid)
                    r = await run_level(calls, seconds, standin, replies, server, usage)
                    per_call = (r["rss_mib"] - idle_rss) / calls
                    print(
                        f"{calls:5d} {r['in_p50']:7.2f} {r['in_p99']:7.2f} {r['out_p50']:8.2f}"
                        f" {r['out_p99']:8.2f} {r['clear_p99']:9.2f} {r['cpu_pct_per_call']:10.3f}"
                        f" {r['cpu_s_per_call_min']:14.3f} {per_call:9.2f}"
                        f"  {r['server_cores']:.2f} + {r['generator_cores']:.2f}",
                        flush=True,
                    )
                    if max(r["in_p99"], r["out_p99"]) < 20:
                        best = calls
                    await asyncio.sleep(2)
                print(f"\nlargest measured number of calls with p99 < 20 ms both ways: {best}")
                print(
                    "goals: 200 calls with p99 < 20 ms; ≤ 0.5 % of a core per call; ≤ 2 MiB per call"
                )
                if soak_minutes:
                    await soak(soak_minutes, 30.0, standin, server, process.pid)
            finally:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=30)


def run() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, nargs="+", default=[25, 50, 100, 200])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument(
        "--server", default="app", help="app, or LOOP/WS for uvicorn, e.g. asyncio/wsproto"
    )
    parser.add_argument(
        "--soak-minutes",
        type=float,
        default=30.0,
        help="then one call this long at 30x real time (0: skip)",
    )
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(main(args.calls, args.seconds, args.soak_minutes, args.server))


if __name__ == "__main__":
    run()
