"""How long a caller hears dead air before each recovery path brings audio back.

Run: ``python -m bench.dead_air`` (``--runs 3`` calls per path; ``--seconds`` sets
DEAD_AIR_SECONDS, default 1, the smallest allowed, so the runs are short). Each call is
real: the Twilio emulator asks the recorded question, uvicorn serves the app, the real
google-genai client talks TLS to the Gemini stand-in, which stalls the way the field
reports describe (tests/support/dead_air_calls.py) and answers once recovery reaches
it. Printed per path: end of the caller's speech → the first recovered audio at the
caller (median, and the range), beside the same figure for a normal reply measured in
the same run; for the path where every step fails, the time until the stream closes
(the ``<Connect action>`` then plays the apology). Then the thinking sound's start: a
tool call → its first frame at the caller, beside THINKING_AUDIO_AFTER_MS.

Beside each figure, its floor: what the policy itself waits (a nudge one bound after
the caller's last word, or at once after an empty turnComplete; each new session one
bound after it opens), plus, where the stall comes with or after the model's turn (an
empty turnComplete; a reply stopped mid-sentence or cut by a phantom interruption), the
reference, and the 0.5 s of reply played before the stall. What is left is the
system's own cost of recovering (sending the nudge, opening a session, seeding it, the
stand-in's answer reaching the caller). With the default DEAD_AIR_SECONDS=3, add 2 s
for each bound a path waits.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import tempfile
from collections.abc import Callable
from pathlib import Path

from tests.support.dead_air_calls import PATHS, Path_, all_fail, stalled_call
from tests.support.gemini_standin import GeminiStandIn
from tests.support.thinking_calls import thinking_call, thinking_delay

PLAYED_S = 0.5  # the reply heard before it stopped, or was cut
# per path: the bounds it waits before the step that recovers it, whether the stall
# comes with the model's turn (the reference first), and the reply heard before it
FLOORS = {
    "normal reply (reference)": (0, True, 0.0),
    "empty turnComplete -> nudge": (0, True, 0.0),
    "silence -> nudge -> resumed session": (2, False, 0.0),
    "resumption refused -> fresh seeded session": (2, False, 0.0),
    "reply stopped mid-sentence -> nudge": (1, True, PLAYED_S),
    "mute after interrupted -> nudge": (1, True, PLAYED_S),
    "every step fails -> apology": (4, False, 0.0),
}


async def one(path: Path_, seconds: float, *, answered: bool = True) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        async with GeminiStandIn(Path(tmp)) as standin:
            call = await stalled_call(
                standin,
                path,
                Path(tmp) / "calls.sqlite3",
                answered=answered,
                dead_air_seconds=seconds,
            )
    if not answered:
        assert call.summary.outcome.value == "agent_silent", call.summary.outcome
        return call.closed_at - call.speech_end
    value = call.recovered_s
    assert value is not None, "no recovered audio reached the caller"
    return value


async def main(runs: int, seconds: float) -> None:
    logging.basicConfig(level=logging.CRITICAL)  # the apology path logs its errors
    paths: dict[str, tuple[Path_, bool]] = {name: (path, True) for name, path in PATHS.items()}
    paths["every step fails -> apology"] = (all_fail, False)
    print(
        f"dead-air recovery: DEAD_AIR_SECONDS={seconds:g}, {runs} call(s) per path;"
        " end of the caller's speech -> first recovered audio at the caller"
    )
    print(f"  {'path':<44} {'median':>6}  {'range':>11}  {'floor':>5}  {'own cost':>8}")
    reference = 0.0
    for name, (path, answered) in paths.items():
        times = [await one(path, seconds, answered=answered) for _ in range(runs)]
        median = statistics.median(times)
        bounds, with_turn, played = FLOORS[name]
        if not reference:
            reference = median
        floor = bounds * seconds + (reference if with_turn else 0.0) + played
        note = "  (to the stream's close: the apology follows)" if not answered else ""
        print(
            f"  {name:<44} {median:5.2f}s  {min(times):4.2f}-{max(times):4.2f} s"
            f"  {floor:4.2f}s  {median - floor:+7.2f}s{note}"
        )
    after_ms = 800.0
    delays = [await thinking_start(after_ms) for _ in range(runs)]
    print(
        f"thinking sound: tool call -> first frame at the caller {statistics.median(delays):.3f} s"
        f" ({min(delays):.3f}-{max(delays):.3f}); THINKING_AUDIO_AFTER_MS={after_ms:.0f}"
    )


async def thinking_start(after_ms: float) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        async with GeminiStandIn(Path(tmp)) as standin:
            stream, times, _, _ = await thinking_call(
                standin, Path(tmp), thinking_audio_after_ms=after_ms
            )
    return thinking_delay(stream, times)


def cli(argv: list[str] | None = None, run: Callable[..., object] = asyncio.run) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=1.0)
    args = parser.parse_args(argv)
    run(main(args.runs, args.seconds))


if __name__ == "__main__":
    cli()
