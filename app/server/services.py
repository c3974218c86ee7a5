"""The composition root's parts: every service the server uses, built once at startup.

:func:`build_services` checks each setting for what it will be used for (the tool
modules are imported, the call-records database is opened, the recordings directory
is written to, Gemini's credentials are loaded), so ``python -m app check`` and the
server refuse exactly the same settings. The Twilio REST client is the exception: its
HTTP session needs a running event loop, so the lifespan opens it (:meth:`open`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import secrets
import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from app.addressing import KnownHosts
from app.agent.echo import EchoConnector
from app.agent.link_state import LinkPolicy
from app.audio import thinking_sound
from app.call.bridge import BridgeOptions
from app.call.core import CoreOptions
from app.call.dead_air import DeadAirPolicy
from app.call.guard import GuardPolicy
from app.call.limits import LimitPolicy
from app.call.ports import AgentConnector
from app.call.sinks import CallSinks
from app.call.thinking import ThinkingPolicy
from app.errors import ConfigError, RecordingsUnusable, RegistryUnavailable
from app.registry.base import CallRegistry, SharedThrottle
from app.registry.build import STREAM_TOKENS, build_registry, derived_key
from app.registry.memory import MemoryThrottle
from app.registry.process import process_name
from app.rotation import Rotating
from app.server.calls_here import LocalCalls
from app.server.pending import PendingRequests
from app.server.softphone_access import SoftphoneAccess
from app.settings import Settings
from app.settings.checks import shown_path
from app.sinks.metrics import MetricsSink, PrometheusMetrics
from app.sinks.recording import RecordingSink, check_recordings_dir
from app.sinks.records import CallRecords, RecordsSink, RecordStore
from app.sinks.writer import DiskWriter
from app.telephony.outbound import rest_client
from app.telephony.rest import TwilioRest
from app.telephony.signatures import SignatureChecker
from app.telephony.stream_tokens import StreamTokens
from app.tools import Tool, end_call_tool, load_tools, transfer_call_tool

log = logging.getLogger(__name__)

RECORDS_RETRY_S = 2.0  # how often writes kept while PostgreSQL was down are retried


@dataclass
class Services:
    """What every route and call of one app shares."""

    settings: Settings
    checker: SignatureChecker | None  # None: signatures are not checked (development)
    registry: CallRegistry  # what the processes of the deployment share
    calls: LocalCalls  # the calls this process runs
    tools: tuple[Tool, ...]
    options: BridgeOptions  # for phone calls
    metrics: PrometheusMetrics
    records: RecordStore | None
    connector: AgentConnector
    softphone: SoftphoneAccess | None
    throttle: SharedThrottle = field(default_factory=MemoryThrottle)  # wrong tokens
    writer: DiskWriter = field(default_factory=DiskWriter)  # records and recordings
    rest: TwilioRest | None = None  # opened by the lifespan, inside the running loop
    # Requests waiting on their client, per client (the app's and the server's guard).
    pending: PendingRequests = field(default_factory=PendingRequests)
    _retrying: asyncio.Task[None] | None = None

    @property
    def softphone_options(self) -> BridgeOptions:
        core = dataclasses.replace(self.options.core, live_transcripts=True)
        return dataclasses.replace(self.options, core=core)

    def call_sinks(self, log: logging.LoggerAdapter[Any]) -> CallSinks:
        """Where one call's reports go: metrics, and its record and recording if on."""
        sinks = CallSinks([MetricsSink(self.metrics)], log, self.metrics.sink_failed)
        if self.records is not None:
            sinks.add(RecordsSink(self.records, self.writer, partial(sinks.failed, "call record")))
        directory = self.settings.recordings_dir
        if directory:
            failed = partial(sinks.failed, "recording")
            mute = self.settings.redact_dtmf  # the keys' tones too, not only their digits
            sinks.add(RecordingSink(Path(directory), self.writer, failed, log, mute_keypad=mute))
        return sinks

    @property
    def operator_token(self) -> Rotating | None:
        return self.settings.operator_secret

    async def open(self) -> None:
        """What needs the running event loop: the REST client's HTTP session, the registry,
        and retrying the call records' writes kept while their database was down."""
        self.rest = rest_client(self.settings)
        await self.registry.open(self.calls.deliver)
        if self.records is not None and self.settings.database_url is not None:
            self._retrying = asyncio.create_task(self._retry_records(self.records))

    async def _retry_records(self, records: RecordStore) -> None:
        while True:
            await asyncio.sleep(RECORDS_RETRY_S)
            if records.backlog():
                self.writer.submit(records.retry, partial(log.error, "retrying records: %s"))

    def close_stores(self) -> None:
        """Close what building opened (the records' database) when the services are not
        served here (the worker supervisor checks the settings by building them)."""
        if self.records is not None:
            self.records.close()

    async def aclose(self) -> None:
        if self._retrying is not None:
            self._retrying.cancel()
        await self.registry.aclose()
        if self.rest is not None:
            await self.rest.aclose()
            self.rest = None
        await asyncio.to_thread(self.writer.close)  # what calls left to write is written
        if self.records is not None:
            self.records.close()


def build_services(settings: Settings, connector: AgentConnector | None = None) -> Services:
    """Build everything once; raise :class:`ConfigError` naming the setting that cannot work
    (or :class:`~app.tools.ToolDefinitionError` for a tool that cannot be declared)."""
    tools = declared_tools(settings)
    if settings.recordings_dir:
        try:
            check_recordings_dir(Path(settings.recordings_dir))
        except RecordingsUnusable as error:
            raise ConfigError(
                f"RECORDINGS_DIR={shown_path(settings.recordings_dir)} {error}: fix the path or its"
                " permissions, or set it empty to turn recordings off."
            ) from None
    if connector is None:
        connector = agent_connector(settings, tools)
    metrics = PrometheusMetrics(settings.prometheus_multiproc_dir or None)
    records = open_records(settings, on_lost=metrics.records_lost)
    writer = DiskWriter()
    tokens = stream_tokens(settings)
    registry, throttle = build_registry(
        settings,
        tokens,
        process_name(),
        on_orphan=None if records is None else orphan_closer(records, writer, metrics),
        on_down=metrics.registry_unreachable,
    )
    calls = LocalCalls(
        registry, tokens.secrets, known=None if records is None else records_know(records)
    )
    options = dataclasses.replace(
        bridge_options(settings),
        admit=calls.admit,
        tools=tools,
        on_transfer=registry.transferring,
        on_ending=calls.ending,
    )
    return Services(
        settings=settings,
        checker=SignatureChecker(
            settings.auth_token, settings.public_base or "", settings.twilio_account_sid
        )
        if settings.auth_token is not None
        else None,
        registry=registry,
        calls=calls,
        tools=tools,
        options=options,
        metrics=metrics,
        records=records,
        connector=connector,
        softphone=SoftphoneAccess(settings.operator_secret, KnownHosts(settings.public_base))
        if settings.enable_softphone
        else None,
        pending=PendingRequests(
            settings.max_pending_requests_per_client,
            settings.request_timeout_seconds,
            settings.proxies,
        ),
        throttle=throttle,
        writer=writer,
    )


def records_know(records: RecordStore) -> Callable[[str], Awaitable[bool]]:
    async def known(call_sid: str) -> bool:
        try:
            return await asyncio.to_thread(records.known, call_sid)
        except RegistryUnavailable as down:  # the registry still refuses what it knows
            log.warning("call %s: cannot ask the call records whether it ran (%s)", call_sid, down)
            return False

    return known


def agent_connector(settings: Settings, tools: tuple[Tool, ...]) -> AgentConnector:
    if settings.agent == "echo":
        return EchoConnector()
    from app.agent.gemini.session import GeminiConnector  # the SDK is imported only when it is used

    return GeminiConnector(settings, tools)  # loads Vertex AI credentials now, not mid-call


def open_records(
    settings: Settings, on_lost: Callable[[int], None] | None = None
) -> RecordStore | None:
    """PostgreSQL at DATABASE_URL (the fleet's), else SQLite at CALL_RECORDS_PATH, else none."""
    if settings.database_url is not None:
        from app.sinks.postgres import PostgresRecords

        return PostgresRecords(settings.database_url.get_secret_value(), on_lost=on_lost)
    if not settings.call_records_path:
        return None
    try:
        return CallRecords(Path(settings.call_records_path))
    except (sqlite3.Error, OSError) as error:
        raise ConfigError(
            f"CALL_RECORDS_PATH={shown_path(settings.call_records_path)} cannot be used as a SQLite"
            f" database ({error}): point it at a writable file, or set it empty to turn call"
            " records off."
        ) from None


def bridge_options(settings: Settings) -> BridgeOptions:
    core = CoreOptions(
        greeting=settings.greeting,
        outbound_greeting=settings.outbound_greeting,
        guard=GuardPolicy(
            max_malformed=settings.max_malformed_messages,
            max_messages_per_s=settings.max_messages_per_second,
            max_audio_rate=settings.max_audio_rate_factor,
        ),
        limits=LimitPolicy(
            max_call_s=settings.max_call_seconds, idle_timeout_s=settings.idle_timeout_seconds
        ),
        goodbye_instruction=settings.goodbye_instruction,
        idle_instruction=settings.idle_instruction,
        transfer_targets=settings.transfer_map,
        forward_dtmf=settings.forward_dtmf,
        redact_dtmf=settings.redact_dtmf,
        fast_barge_in=settings.fast_barge_in,
        record_audio=bool(settings.recordings_dir),
        dead_air=DeadAirPolicy(
            seconds=settings.dead_air_seconds,
            instruction=settings.dead_air_instruction,
            # A new session gets as long to open as the first did, and a bound to speak.
            switch_wait_s=settings.gemini_connect_timeout_s + settings.dead_air_seconds,
        ),
        thinking=ThinkingPolicy(
            after_s=settings.thinking_audio_after_ms / 1000, sound=thinking_audio(settings)
        ),
    )
    link = LinkPolicy(
        max_attempts=settings.reconnect_max_attempts,
        max_reconnect_s=settings.reconnect_max_seconds,
        buffer_ms=1000 * settings.caller_buffer_seconds,
    )
    return BridgeOptions(core=core, link=link, tool_timeout_s=settings.tool_timeout_seconds)


def thinking_audio(settings: Settings) -> bytes:
    """The thinking sound as 8 kHz µ-law, converted once: THINKING_AUDIO_FILE, or the
    built-in one; nothing when THINKING_AUDIO_AFTER_MS=0."""
    if not settings.thinking_audio_after_ms:
        return b""
    path = settings.thinking_audio_file
    if path is None:
        return thinking_sound.built_in()
    where = f"THINKING_AUDIO_FILE={path}"
    try:
        return thinking_sound.from_wav(path.read_bytes())
    except OSError as error:
        raise ConfigError(
            f"{where} cannot be read ({error.strerror or error}): fix the path, or unset it"
            " for the built-in sound."
        ) from None
    except thinking_sound.SoundFileError as error:
        raise ConfigError(f"{where} {error}; or unset it for the built-in sound.") from None


def stream_tokens(settings: Settings) -> StreamTokens:
    """Keyed from the auth token, so every process of a deployment agrees (and, while it
    is rotated, from the previous one too); random without one."""
    ttl = settings.stream_token_ttl_seconds
    auth = settings.auth_token
    if auth is None:
        return StreamTokens(secrets.token_bytes(32), ttl)
    previous = derived_key(auth.previous, STREAM_TOKENS) if auth.previous else None
    return StreamTokens(
        derived_key(auth.current, STREAM_TOKENS), ttl, previous, auth.previous_until
    )


def orphan_closer(
    records: RecordStore, writer: DiskWriter, metrics: PrometheusMetrics
) -> Callable[[str, str], Awaitable[None]]:
    """A call whose process died: its record is closed as failed, with the reason."""

    async def close(call_sid: str, reason: str) -> None:
        metrics.orphaned()
        writer.submit(
            lambda: records.orphaned(call_sid, reason),
            lambda error: log.error("call %s: closing its record failed: %s", call_sid, error),
        )

    return close


def declared_tools(settings: Settings) -> tuple[Tool, ...]:
    """The operator's tools (imported now, so a broken one stops startup) and built-ins."""
    tools = load_tools(settings.tool_module_paths)
    if settings.enable_end_call:
        tools.append(end_call_tool())
    if settings.transfer_map:
        tools.append(transfer_call_tool(list(settings.transfer_map)))
    return tuple(tools)
