"""The commands that need no settings: ``gemini-standin`` and ``make-capture``."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from app.errors import ReplayError
from app.ops.gemini_standin import GeminiStandIn
from app.ops.standin_command import instructions, serve_standin
from app.ops.wav_capture import make_capture


def run_tool_command(args: argparse.Namespace) -> int:
    if args.command == "make-capture":
        try:
            seconds = make_capture(args.wav, args.out)
        except ReplayError as error:
            print(f"make-capture failed: {error}", file=sys.stderr)
            return 1
        print(
            f"wrote {args.out}: {seconds:.1f} s of caller audio as Twilio streams it (8 kHz"
            f" µ-law, 20 ms frames); play it to the bot with: python -m app replay {args.out}"
            " --out reply.wav"
        )
        return 0
    return run_standin(args)


def run_standin(args: argparse.Namespace) -> int:
    def ready(standin: GeminiStandIn) -> None:
        print(instructions(standin), flush=True)

    try:
        asyncio.run(
            serve_standin(
                args.dir.absolute(), args.host, args.port, args.api_key, args.reply, ready
            )
        )
    except ReplayError as error:  # --reply is not a usable WAV
        print(f"gemini-standin failed: {error}", file=sys.stderr)
        return 1
    except OSError as error:
        reason = os.strerror(error.errno) if error.errno else error  # without the address
        print(
            f"gemini-standin failed: cannot listen on {args.host}:{args.port}"
            f" ({reason}): choose another --port",
            file=sys.stderr,
        )
        return 1
    except KeyboardInterrupt:
        print("gemini-standin stopped")
    return 0
