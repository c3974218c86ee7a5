"""Fleet benchmark: WORKERS=1 against WORKERS=2, the same offered load, in one run.

Run: ``python -m bench.fleet`` (about 3 minutes; ``--calls 40 80``, ``--seconds 15``).

Both are ``python -m app`` with ``REDIS_URL`` (a real redis-server started here, so
the one-worker run pays for the registry too: the comparison is of workers, not of
Redis), talking TLS to the Gemini stand-in; the load is bench/load.py's (caller audio
paced in real time, a 1 s reply after every 3 s of caller audio, every third reply
interrupted). The load generator, the stand-in and Redis share the machine's cores
with the server: on a 2-core machine, two workers can win only what the generator
leaves them, and the table says how much that was.

Columns, per configuration and number of calls:
  ≤40, ≤100 ms  calls whose every frame, both ways, was forwarded within 40 ms (no glitch)
                and within 100 ms (what a jitter buffer absorbs), of those offered
  p99           ms, every frame both ways (caller → stand-in and stand-in → caller)
  CPU s/call-min  server CPU (supervisor and workers) per minute of call
  cores         server, Redis and the load generator (with the stand-in)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from bench.load import (
    BUFFERED_MS,
    ON_TIME_MS,
    Replies,
    proc_cpu_s,
    proc_rss_mib,
    run_level,
    scenario_for,
    wait_healthy,
)
from tests.support.gemini_standin import GeminiStandIn
from tests.support.server import free_port, standin_env
from tests.support.stores import RedisServer


def family(pid: int) -> list[int]:
    """``pid`` and every process it started (the supervisor's workers)."""
    found = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        for child in task.read_text().split():
            found += family(int(child))
    return found


def fleet_usage(pid: int) -> Callable[[], tuple[float, float]]:
    def usage() -> tuple[float, float]:
        total_cpu = total_rss = 0.0
        for member in family(pid):
            with contextlib.suppress(OSError):
                total_cpu += proc_cpu_s(member)
                total_rss += proc_rss_mib(member)
        return total_cpu, total_rss

    return usage


async def serve(
    workers: int, standin: GeminiStandIn, redis: RedisServer, tmp: Path
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = standin_env(
        standin,
        port,
        WORKERS=str(workers),
        REDIS_URL=redis.url,
        REDIS_KEY_PREFIX=f"bench{workers}",
        LOG_LEVEL="warning",
        MAX_CONCURRENT_CALLS="1000",
        CALL_RECORDS_PATH="",
    )
    process = subprocess.Popen([sys.executable, "-m", "app"], cwd=tmp, env=env)
    server = f"http://127.0.0.1:{port}"
    await wait_healthy(server, 30)
    await asyncio.sleep(3 if workers > 1 else 0)  # every worker up, not only the first
    return process, server


async def main(levels: list[int], seconds: float) -> None:
    with tempfile.TemporaryDirectory() as directory:
        tmp = Path(directory)
        replies = Replies()
        standin = GeminiStandIn(tmp, scenario_for(replies))
        standin.keep_audio = False
        redis = RedisServer().start()
        assert redis.process is not None
        servers: dict[int, tuple[subprocess.Popen[bytes], str]] = {}
        try:
            async with standin:
                # Both run from the start (an idle one costs nothing), and each level is
                # offered to one, then the other, at once: the machine's other load (the
                # cores are shared) falls on both alike.
                for workers in (1, 2):
                    servers[workers] = await serve(workers, standin, redis, tmp)
                header = (
                    f"{'workers':>7} {'calls':>5} {'≤40 ms':>9} {'≤100 ms':>9} {'p99 ms':>7}"
                    f" {'in p99':>7} {'out p99':>8} {'CPU s/call-min':>14}"
                    "  cores: server + redis + generator"
                )
                print(
                    f"{seconds:g} s measured per row; calls whose every frame, both ways, was"
                    f" forwarded within {ON_TIME_MS:g} ms, and within {BUFFERED_MS:g} ms"
                )
                print(header)
                print("-" * len(header))
                for calls in levels:
                    for workers, (process, server) in servers.items():
                        redis0 = proc_cpu_s(redis.process.pid)
                        usage = fleet_usage(process.pid)
                        r = await run_level(calls, seconds, standin, replies, server, usage)
                        redis_cores = (proc_cpu_s(redis.process.pid) - redis0) / (seconds + 2)
                        print(
                            f"{workers:7d} {calls:5d} {int(r['on_time_calls']):4d}/{calls:<4d}"
                            f" {int(r['buffered_calls']):4d}/{calls:<4d}"
                            f" {r['all_p99']:7.1f} {r['in_p99']:7.1f} {r['out_p99']:8.1f}"
                            f" {r['cpu_s_per_call_min']:14.3f}"
                            f"  {r['server_cores']:.2f} + {redis_cores:.2f}"
                            f" + {r['generator_cores']:.2f}",
                            flush=True,
                        )
                        await asyncio.sleep(3)  # the calls' ends settle
        finally:
            for process, _ in servers.values():
                process.send_signal(signal.SIGTERM)
            for process, _ in servers.values():
                process.wait(timeout=60)
            redis.close()


def run() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, nargs="+", default=[40, 80])
    parser.add_argument("--seconds", type=float, default=15.0)
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(main(args.calls, args.seconds))


if __name__ == "__main__":
    run()
