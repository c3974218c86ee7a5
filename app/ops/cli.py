"""Operator commands: check the settings, place a call, configure a Twilio number."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from app.errors import (
    CallControlError,
    ConfigError,
    NotAPhoneNumber,
    OutboundNotConfigured,
    ReplayError,
    ToolDefinitionError,
)
from app.logs import configure_logging
from app.ops.replay import load_capture, replay
from app.server.app import create_app
from app.server.serve import listen, serve
from app.server.services import build_services, open_records
from app.server.workers import supervise
from app.settings import Settings, load_settings
from app.sinks.records import format_call
from app.telephony.outbound import configure_number, place_call, require_rest
from app.telephony.paths import CALL_STATUS_PATH, INCOMING_PATH
from app.tools import Tool

log = logging.getLogger(__name__)


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m app", description="Gemini phone bridge")
    commands = root.add_subparsers(dest="command")
    commands.add_parser("serve", help="serve the app (the default)")
    commands.add_parser("check", help="validate the settings and print what would be used")
    call = commands.add_parser("call", help="have the bot call a number")
    call.add_argument("number", help="E.164, like +15551234567")
    configure = commands.add_parser(
        "configure-number", help="point a Twilio number's voice webhook and status callback here"
    )
    configure.add_argument("number", help="one of your Twilio numbers, E.164")
    replay = commands.add_parser("replay", help="drive a captured media stream through the server")
    replay.add_argument("capture", type=Path, help="media-stream JSON (a list of Twilio frames)")
    replay.add_argument("--out", type=Path, required=True, help="stereo WAV to write")
    replay.add_argument("--server", help="a running server's URL; default: start one here")
    replay.add_argument(
        "--listen", type=float, default=8.0, help="seconds to keep listening after the capture ends"
    )
    calls = commands.add_parser("calls", help="show call records")
    calls.add_argument("call_sid", nargs="?", help="one call, with its transcript")
    calls.add_argument("--last", type=int, default=20, help="how many recent calls")
    return root


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    try:
        settings = load_settings()
        sys.exit(run(args, settings))
    except (ConfigError, ToolDefinitionError) as error:
        sys.exit(f"configuration error: {error}")


def run(args: argparse.Namespace, settings: Settings) -> int:
    """One command; raises ConfigError / ToolDefinitionError for settings that cannot work."""
    if args.command in (None, "serve"):
        app = create_app(settings)  # every check `check` runs, then the services
        sock = listen(settings.listen_host, settings.port)
        configure_logging(settings)
        log.info("listening on http://%s:%d", settings.listen_host, sock.getsockname()[1])
        if settings.workers > 1:  # the app above was the check; the workers build their own
            app.state.services.close_stores()
            return supervise(settings, sock)
        serve(app, settings, sock)
        return 0
    if args.command == "check":
        services = build_services(settings)  # exactly what serving would build
        try:
            print(describe(settings, services.tools))
        finally:
            if services.records is not None:
                services.records.close()
        return 0
    if args.command == "calls":
        return show_calls(settings, args.call_sid, args.last)
    if args.command == "replay":
        return replay_command(args, settings)
    return asyncio.run(_rest_command(args, settings))


def replay_command(args: argparse.Namespace, settings: Settings) -> int:
    try:
        frames = load_capture(args.capture)
        result = asyncio.run(replay(settings, frames, args.out, args.server, args.listen))
    except ReplayError as error:
        print(f"replay failed: {error}", file=sys.stderr)
        return 1
    print(f"wrote {args.out}: the caller heard {result.heard_s:.1f} s of agent audio")
    if result.ended_by_server:
        print(
            f"the server ended the call after {result.recorded_s:.1f} s"
            f" (code {result.close_code}: {result.close_reason or 'no reason given'})"
        )
    return 0


async def _rest_command(args: argparse.Namespace, settings: Settings) -> int:
    try:
        rest = require_rest(settings, placing_calls=args.command == "call")
    except OutboundNotConfigured as missing:
        print(f"cannot {args.command}: {missing}")
        return 2
    try:
        if args.command == "call":
            placed = await place_call(settings, rest, args.number)
            print(f"calling {placed.to}: call {placed.sid} ({placed.status})")
        else:
            sid = await configure_number(settings, rest, args.number)
            base = settings.public_base
            print(
                f"{args.number} ({sid}) now sends calls to {base}{INCOMING_PATH}"
                f" and call status to {base}{CALL_STATUS_PATH}"
            )
        return 0
    except (NotAPhoneNumber, CallControlError) as error:
        print(f"{args.command} failed: {error}")
        return 1
    finally:
        await rest.aclose()


def _shown(value: object) -> str:
    return "(not set)" if value in (None, "") else str(value)


def describe(settings: Settings, tools: tuple[Tool, ...]) -> str:
    """What the server would use, secrets shown only as set / not set."""
    secret = {True: "set", False: "NOT SET"}
    lines = [
        "settings are valid",
        f"  model              {settings.model} (API {settings.api_version})",
        f"  endpoint           {settings.gemini_base_url or 'Google'}",
        f"  GEMINI_API_KEY     {secret[settings.gemini_api_key is not None]}",
        f"  voice / language   {_shown(settings.gemini_voice)} / "
        f"{_shown(settings.gemini_language)}",
        f"  greeting           {_shown(settings.greeting)}",
        f"  public URL         {_shown(settings.public_url)}",
        f"  signatures         {'checked' if settings.validates_signatures else 'NOT CHECKED'}",
        f"  TWILIO_AUTH_TOKEN  {secret[settings.twilio_auth_token is not None]}",
        f"  account / from     {_shown(settings.twilio_account_sid)} / "
        f"{_shown(settings.twilio_from_number)}",
        f"  OPERATOR_TOKEN     {secret[settings.operator_token is not None]}",
        f"  tools              {', '.join(t.name for t in tools) or '(none)'}",
        f"  transfer targets   {', '.join(settings.transfer_map) or '(none)'}",
        f"  limits             {settings.max_concurrent_calls} calls, "
        f"{settings.max_call_seconds:g} s each",
        f"  agent              {'ECHO (no Gemini)' if settings.agent == 'echo' else 'Gemini'}",
        f"  softphone          {_softphone(settings)}",
        f"  call records       {_shown(settings.call_records_path)}",
        f"  recordings         {_shown(settings.recordings_dir)}",
    ]
    return "\n".join(lines)


def _softphone(settings: Settings) -> str:
    if not settings.enable_softphone:
        return "off"
    where = f"{settings.public_base or 'http://localhost:' + str(settings.port)}/softphone"
    return f"{where} ({'OPERATOR_TOKEN' if settings.operator_token else 'OPEN, development only'})"


def show_calls(settings: Settings, call_sid: str | None, last: int) -> int:
    path = Path(settings.call_records_path) if settings.call_records_path else None
    if settings.database_url is None and (path is None or not path.exists()):
        print(f"no call records at {settings.call_records_path or '(CALL_RECORDS_PATH is empty)'}")
        return 1
    records = open_records(settings)  # DATABASE_URL's (the whole fleet's), or the file
    assert records is not None
    try:
        if call_sid:
            record = records.get(call_sid)
            if record is None:
                print(f"no record of call {call_sid}")
                return 1
            print(format_call(record, with_turns=True))
        else:
            for record in records.recent(last):
                print(format_call(record, with_turns=False))
        return 0
    finally:
        records.close()
