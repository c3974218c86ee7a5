"""CPU per message in the call's core, beside the part of it any bridge must do.

Run: ``python -m bench.call_core``. In: one caller frame (20 ms of µ-law in Twilio's
JSON) through ``CallCore.receive``, beside parsing it and converting its audio to
16 kHz, which the bridge before the redesign did with the same code. Out: one 40 ms
agent chunk (24 kHz) through ``CallCore.agent``, beside converting it and writing its
media and mark messages and the ledger entry. The difference is what the machines
themselves cost per message (sorting, state, actions). Median of 7 runs of 5,000
messages each; no sockets, no event loop.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable

import numpy as np

from app.agent.events import AgentAudio
from app.audio.convert import InboundConverter, OutboundConverter, pcm16_to_ulaw
from app.call.core import CallCore, CoreOptions
from app.call.ledger import PlaybackLedger
from app.telephony import wire
from app.telephony.captures import STREAM, build_capture

RUNS, MESSAGES = 7, 5000
CALLER = (np.sin(np.arange(160) * 0.3) * 3000).astype("<i2").tobytes()
CHUNK = (np.sin(np.arange(960) * 0.05) * 8000).astype("<i2").tobytes()  # 40 ms at 24 kHz


def per_message_us(step: Callable[[int], object]) -> float:
    runs = []
    for _ in range(RUNS):
        began = time.perf_counter()
        for i in range(MESSAGES):
            step(i)
        runs.append((time.perf_counter() - began) / MESSAGES * 1e6)
    return statistics.median(runs)


def admitted_core() -> tuple[CallCore, str]:
    connected, start, media, *_ = (json.dumps(f) for f in build_capture(pcm16_to_ulaw(CALLER)))
    core = CallCore(CoreOptions(), 0.0)
    core.receive(connected, 0.0)
    core.receive(start, 0.0)
    core.admission(None, 0.0)
    return core, media


def main() -> None:
    core, media = admitted_core()
    parsed = wire.parse(media)
    assert isinstance(parsed, wire.Media)
    inbound, outbound, ledger = InboundConverter(), OutboundConverter(), PlaybackLedger()

    def shared_in(_: int) -> None:
        frame = wire.parse(media)
        assert isinstance(frame, wire.Media)
        inbound.convert(frame.payload)

    def shared_out(_: int) -> None:
        wire.media_message(STREAM, outbound.convert(CHUNK))
        wire.mark_message(STREAM, ledger.audio_sent(1, 40.0))

    rows = [
        ("caller frame in (20 ms)", per_message_us(lambda i: core.receive(media, i * 0.02)),
         per_message_us(shared_in)),
        ("agent chunk out (40 ms)", per_message_us(lambda i: core.agent(AgentAudio(CHUNK), 100 + i * 0.04)),
         per_message_us(shared_out)),
    ]  # fmt: skip
    print(f"{'message':<26}{'core µs':>10}{'parse+audio µs':>16}{'machines µs':>13}")
    print("-" * 65)
    for name, whole, shared in rows:
        print(f"{name:<26}{whole:>10.1f}{shared:>16.1f}{whole - shared:>13.1f}")


if __name__ == "__main__":
    main()
