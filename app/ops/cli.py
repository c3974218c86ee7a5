"""Operator commands: serve, check the settings, place a call, configure a Twilio number,
show call records, replay a capture, make a capture from a WAV, run the Gemini stand-in."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from app.call.outcome import Outcome
from app.errors import (
    CallControlError,
    ConfigError,
    NotAPhoneNumber,
    OutboundNotConfigured,
    ReplayError,
    ToolDefinitionError,
)
from app.logs import configure_logging
from app.ops.online import check_online
from app.ops.replay import call_sid_of, load_capture, new_call_sid, replay
from app.server.app import create_app
from app.server.serve import listen, serve
from app.server.services import build_services
from app.server.workers import supervise
from app.settings import Settings, load_settings
from app.settings.fleet import fleet_summary, shown_url
from app.settings.model import load_records_database, load_records_location
from app.sinks.records import CallRecords, RecordStore, format_call
from app.telephony.outbound import configure_number, place_call, require_rest
from app.telephony.paths import CALL_STATUS_PATH, INCOMING_PATH
from app.tools import Tool

log = logging.getLogger(__name__)

ENV_FILE_HELP = "the .env file to read (default: .env in the current directory)"


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m app", description="Gemini phone bridge")
    root.add_argument("--env-file", type=Path, help=ENV_FILE_HELP)
    shared = argparse.ArgumentParser(add_help=False)  # so it may follow the command too
    shared.add_argument("--env-file", type=Path, default=argparse.SUPPRESS, help=ENV_FILE_HELP)
    commands = root.add_subparsers(dest="command")

    def command(name: str, text: str) -> argparse.ArgumentParser:
        return commands.add_parser(name, help=text, parents=[shared])

    command("serve", "serve the app (the default)")
    check = command("check", "validate the settings (and the port) as serving would")
    check.add_argument(
        "--online", action="store_true", help="also ask the Gemini service about key and model"
    )
    call = command("call", "have the bot call a number")
    call.add_argument("number", help="E.164, like +15551234567")
    configure = command(
        "configure-number", "point a Twilio number's voice webhook and status callback here"
    )
    configure.add_argument("number", help="one of your Twilio numbers, E.164")
    replay_ = command("replay", "drive a captured media stream through the server")
    replay_.add_argument("capture", type=Path, help="media-stream JSON (a list of Twilio frames)")
    replay_.add_argument("--out", type=Path, required=True, help="stereo WAV to write")
    replay_.add_argument("--server", help="a running server's URL; default: start one here")
    replay_.add_argument(
        "--listen", type=float, default=8.0, help="seconds to keep listening after the capture ends"
    )
    capture = command("make-capture", "turn a WAV recording into a capture for replay")
    capture.add_argument("wav", type=Path, help="a PCM WAV file: the caller's side")
    capture.add_argument("--out", type=Path, required=True, help="the capture (JSON) to write")
    calls = command("calls", "show call records (reads only CALL_RECORDS_PATH)")
    calls.add_argument("call_sid", nargs="?", help="one call, with its transcript")
    calls.add_argument("--last", type=int, default=20, help="how many recent calls")
    calls.add_argument("--leg", type=int, help="which leg of a CallSid that came back (from 1)")
    calls.add_argument("--db", type=Path, help="the records database (default CALL_RECORDS_PATH)")
    standin = command("gemini-standin", "run a local Gemini Live stand-in (no Google account)")
    standin.add_argument("--host", default="127.0.0.1", help="where to listen")
    standin.add_argument("--port", type=int, default=9443, help="port (0: any free one)")
    standin.add_argument(
        "--dir", type=Path, default=Path("gemini-standin"), help="where its CA file is written"
    )
    standin.add_argument("--api-key", default="standin-key", help="the key it accepts")
    standin.add_argument("--reply", type=Path, help="a WAV it answers instructions with")
    return root


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    env_file = {"_env_file": args.env_file} if args.env_file is not None else {}
    try:
        if args.command == "calls":  # only CALL_RECORDS_PATH, whatever else is (not) set
            sys.exit(calls_command(args, env_file))
        if args.command in ("gemini-standin", "make-capture"):  # no settings at all
            from app.ops.tool_commands import run_tool_command

            sys.exit(run_tool_command(args))
        settings = load_settings(**env_file)
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
    if args.command != "replay" or args.server is not None:  # a local server logs them
        for warning in settings.warnings:
            print(f"warning: {warning}", file=sys.stderr)
    if args.command == "check":
        return check_command(settings, online=args.online)
    if args.command == "replay":
        return replay_command(args, settings)
    return asyncio.run(_rest_command(args, settings))


def check_command(settings: Settings, *, online: bool) -> int:
    services = build_services(settings)  # exactly what serving would build
    try:
        listen(settings.listen_host, settings.port).close()  # and the port serving would take
        lines = [describe(settings, services.tools)]
        if online:
            lines.extend(asyncio.run(check_online(settings)))
    finally:
        if services.records is not None:
            services.records.close()
    print("\n".join(lines))
    return 0


def replay_command(args: argparse.Namespace, settings: Settings) -> int:
    call_sid = new_call_sid()
    try:
        frames = load_capture(args.capture)
        result = asyncio.run(
            replay(settings, frames, args.out, args.server, args.listen, call_sid=call_sid)
        )
    except ReplayError as error:
        print(f"replay failed: {error}", file=sys.stderr)
        return 1
    print(
        f"replayed as call {result.call_sid} (each replay gets a CallSid of its own; the"
        f" capture's is {call_sid_of(frames)}): python -m app calls {result.call_sid}"
    )
    print(f"wrote {args.out}: the caller heard {result.heard_s:.1f} s of agent audio")
    if result.ended_by_server:
        print(
            f"the server ended the call after {result.recorded_s:.1f} s"
            f" (code {result.close_code}: {result.close_reason or 'no reason given'})"
        )
    if result.outcome is None:
        print("the server did not say how the call ended (no outcome in its close reason)")
        return 0
    print(f"the call ended {result.close_reason}")
    return 0 if result.outcome is Outcome.COMPLETED else 1


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
    recordings = settings.recordings_dir
    lines = [
        "settings are valid",
        f"  read from          {settings.source}",
        f"  model              {settings.model} (API {settings.api_version})",
        f"  endpoint           {settings.gemini_base_url or 'Google'}",
        f"  GEMINI_API_KEY     {secret[settings.gemini_api_key is not None]}",
        f"  voice / language   {_shown(settings.gemini_voice)} / "
        f"{_shown(settings.gemini_language)}",
        f"  greeting           {_shown(settings.greeting)}",
        f"  listens on         {settings.listen_host}:{settings.port} (free now)",
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
        f"  fleet              {fleet_summary(settings)}",
        f"  call records       {_records(settings)}",
        f"  recordings         {Path(recordings).absolute() if recordings else 'off'}",
    ]
    return "\n".join(lines)


def _records(settings: Settings) -> str:
    if settings.database_url is not None:
        return f"PostgreSQL at {shown_url(settings.database_url.get_secret_value())}"
    records = settings.call_records_path
    return str(Path(records).absolute()) if records else "off"


def _softphone(settings: Settings) -> str:
    if not settings.enable_softphone:
        return "off"
    where = f"{settings.public_base or 'http://localhost:' + str(settings.port)}/softphone"
    return f"{where} ({'OPERATOR_TOKEN' if settings.operator_token else 'OPEN, development only'})"


def calls_command(args: argparse.Namespace, env_file: dict[str, object]) -> int:
    """The call records, needing nothing but where they are."""
    database = load_records_database(**env_file) if args.db is None else None
    if database is not None:  # the fleet's PostgreSQL (DATABASE_URL)
        from app.sinks.postgres import PostgresRecords

        where = f"DATABASE_URL={shown_url(database)}"
        return show_calls(PostgresRecords(database), where, args.call_sid, args.last, args.leg)
    if args.db is not None:
        setting, where = str(args.db), "given with --db"
    else:
        setting, read_from = load_records_location(**env_file)
        where = f"CALL_RECORDS_PATH={setting!r}, read from {read_from}"
    if not setting:
        print(f"call records are off ({where})")
        return 1
    path = Path(setting).absolute()
    if not path.is_file():
        relative = "" if Path(setting).is_absolute() else f", relative to {Path.cwd()}"
        print(
            f"no call records at {path} ({where}{relative}). Run this where the server runs,"
            " or name the server's settings with --env-file, or the database with --db."
        )
        return 1
    return show_calls(CallRecords(path), str(path), args.call_sid, args.last, args.leg)


def show_calls(
    records: RecordStore, where: str, call_sid: str | None, last: int, leg: int | None = None
) -> int:
    try:
        if not call_sid:
            for recent in records.recent(last):
                print(format_call(recent, with_turns=False))
            return 0
        legs = records.legs(call_sid)
        record = records.get(call_sid, leg)
        if record is None:
            which = f"leg {leg} of call" if leg is not None and legs else "record of call"
            print(f"no {which} {call_sid} in {where}" + (f" (it has {legs})" if legs else ""))
            return 1
        if legs > 1:
            print(
                f"call {call_sid} has {legs} legs (the same CallSid reached the bot {legs}"
                f" times: replays, or a call sent back to it); this is leg {record['leg']}"
                f"{', the latest' if leg is None else ''}: --leg 1 … --leg {legs} shows each"
            )
        print(format_call(record, with_turns=True))
        return 0
    finally:
        records.close()
