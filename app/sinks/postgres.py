"""Call records in PostgreSQL (``DATABASE_URL``): one database for the whole fleet, so
``/calls``, ``python -m app calls`` and the check that refuses a replayed webhook for a
call that has ended (``known``) see every process's calls.

The same tables and queries as SQLite (:class:`~app.sinks.records.RecordStore`), the
same versioned migrations (applied by one process at a time, under an advisory lock).
Writes come from the disk writer's thread, never a call's. When PostgreSQL is
unreachable the calls go on: each write is kept, in order, and written when it is back
(the server retries every few seconds); beyond ``max_backlog`` the oldest are dropped,
counted (``on_lost``, the ``phonebot_records_lost`` metric) and logged as errors, never
silently. Reads then answer :class:`~app.errors.RegistryUnavailable` (503).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg.rows import dict_row

from app.call.record import CallEnd, CallStart, Turn
from app.errors import ConfigError, RegistryUnavailable
from app.settings.fleet import shown_url
from app.sinks.records import MIGRATIONS, VERSION_TABLE, RecordStore

log = logging.getLogger(__name__)

UNREACHABLE = "the call records database (PostgreSQL) is unreachable"
CONNECT_TIMEOUT_S = 3
RECONNECT_EVERY_S = 1.0
MAX_BACKLOG = 50_000  # writes kept while PostgreSQL is down (a few hundred bytes each)
MIGRATION_LOCK = 0x70686F6E65  # pg_advisory_xact_lock's key: "phone"


class PostgresRecords(RecordStore):
    def __init__(
        self,
        url: str,
        *,
        max_backlog: int = MAX_BACKLOG,
        on_lost: Callable[[int], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self._url = url
        self._lock = threading.RLock()
        self._backlog: deque[Callable[[], None]] = deque()
        self.max_backlog = max_backlog
        self.on_lost = on_lost
        self.lost = 0
        self._clock = clock
        self._last_try = -RECONNECT_EVERY_S
        try:
            self._db: psycopg.Connection[Any] | None = self._connect()
            self._migrate(self._db)
        except psycopg.Error as error:
            raise ConfigError(
                f"DATABASE_URL={shown_url(url)} cannot be used ({str(error).strip()}): start"
                " PostgreSQL there, or fix the address, user, password or database name."
            ) from None

    def _connect(self) -> psycopg.Connection[Any]:
        return psycopg.connect(
            self._url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S, row_factory=dict_row
        )

    @staticmethod
    def _migrate(db: psycopg.Connection[Any]) -> None:
        with db.transaction():
            db.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            db.execute(VERSION_TABLE)
            row = db.execute("SELECT MAX(version) AS version FROM schema_version").fetchone()
            version = (row or {}).get("version") or 0
            for step in MIGRATIONS:
                if step.version > version:
                    db.execute(step.postgres.encode())  # several statements: no parameters
                    db.execute("INSERT INTO schema_version VALUES (%s)", (step.version,))
                    log.info("call records: migrated to version %d (%s)", step.version, step.what)

    # the connection

    def _connection(self) -> psycopg.Connection[Any]:
        """The open connection, or a new one (at most once a second), or RegistryUnavailable."""
        if self._db is not None and not self._db.closed:
            return self._db
        now = self._clock()
        if now - self._last_try < RECONNECT_EVERY_S:
            raise RegistryUnavailable(UNREACHABLE)
        self._last_try = now
        try:
            self._db = self._connect()
        except psycopg.OperationalError as error:
            raise RegistryUnavailable(f"{UNREACHABLE} ({str(error).strip()})") from None
        log.warning("%s no longer: reconnected", UNREACHABLE)
        return self._db

    def _run(self, sql: str, values: tuple[object, ...]) -> Any:
        with self._lock:
            db = self._connection()
            try:
                return db.execute(sql.replace("?", "%s").encode(), values)
            except psycopg.OperationalError as error:
                self._db = None
                with_error = f"{UNREACHABLE} ({str(error).strip()})"
                raise RegistryUnavailable(with_error) from None

    def _insert_leg(self, sql: str, values: tuple[object, ...]) -> int:
        row = self._run(sql + " RETURNING id", values).fetchone()
        return int(row["id"])

    # writes: kept in order while the database is down

    def _write(self, work: Callable[[], None]) -> None:
        with self._lock:
            self._backlog.append(work)
            while len(self._backlog) > self.max_backlog:
                self._backlog.popleft()
                self.lost += 1
                if self.on_lost is not None:
                    self.on_lost(1)
                if self.lost == 1 or self.lost % 100 == 0:
                    log.error(
                        "%s and %d writes are waiting: call records are being LOST (%d so far)",
                        UNREACHABLE,
                        self.max_backlog,
                        self.lost,
                    )
            self._flush()

    def _flush(self) -> None:
        while self._backlog:
            try:
                self._backlog[0]()
            except RegistryUnavailable as down:
                if len(self._backlog) == 1:
                    log.error("%s: call records are kept until it is back", down)
                return
            except (psycopg.Error, KeyError) as error:  # this write cannot be made: drop it
                log.error("a call record write failed and is dropped: %s", error)
            self._backlog.popleft()

    def backlog(self) -> int:
        return len(self._backlog)

    def retry(self) -> None:
        with self._lock:
            if self._backlog:
                self._flush()
                if not self._backlog:
                    log.warning("call records kept while PostgreSQL was down are written")

    def call_started(self, start: CallStart, now: float | None = None) -> None:
        at = time.time() if now is None else now
        self._write(lambda: RecordStore.call_started(self, start, at))

    def turn(self, call_sid: str, turn: Turn, now: float | None = None) -> None:
        at = time.time() if now is None else now
        self._write(lambda: RecordStore.turn(self, call_sid, turn, at))

    def turn_heard(self, call_sid: str, turn: Turn, now: float | None = None) -> None:
        self._write(lambda: RecordStore.turn_heard(self, call_sid, turn))

    def call_ended(self, end: CallEnd, now: float | None = None) -> None:
        at = time.time() if now is None else now
        self._write(lambda: RecordStore.call_ended(self, end, at))

    def orphaned(self, call_sid: str, reason: str, now: float | None = None) -> None:
        at = time.time() if now is None else now
        self._write(lambda: RecordStore.orphaned(self, call_sid, reason, at))

    def close(self) -> None:
        with self._lock:
            if self._backlog:
                self._flush()
            if self._backlog:
                log.error(
                    "%s at shutdown: %d call record writes are LOST",
                    UNREACHABLE,
                    len(self._backlog),
                )
                self.lost += len(self._backlog)
            if self._db is not None:
                self._db.close()
