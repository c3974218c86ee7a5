"""Real Redis and PostgreSQL servers for the fleet's tests, on free loopback ports.

Each is found, in order: through ``TEST_REDIS_URL`` / ``TEST_DATABASE_URL`` (a server
someone runs), or started here from the Debian binaries (``redis-server``; PostgreSQL's
``initdb`` and ``postgres``, run as the ``postgres`` user when we are root, since
initdb refuses root), each with its own data directory, stopped at the end. Without
either, the tests that need one skip, naming what to install, unless
``REQUIRE_REDIS=1`` / ``REQUIRE_POSTGRES=1`` (CI) make that a failure.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.server import free_port

REDIS_MISSING = (
    "no redis-server: install Debian's redis-server (apt-get install redis-server) or set"
    " TEST_REDIS_URL; REQUIRE_REDIS=1 makes this a failure"
)
POSTGRES_MISSING = (
    "no PostgreSQL: install Debian's postgresql (apt-get install postgresql) or set"
    " TEST_DATABASE_URL; REQUIRE_POSTGRES=1 makes this a failure"
)


def missing(reason: str, required: str) -> None:
    if os.environ.get(required) == "1":
        pytest.fail(reason)
    pytest.skip(reason)


def wait_for_port(port: int, process: subprocess.Popen[bytes] | None, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        if process is not None and process.poll() is not None:
            raise AssertionError(f"the server exited ({process.returncode})")
        time.sleep(0.05)
    raise AssertionError(f"nothing listens on port {port} after {timeout} s")


@dataclass
class RedisServer:
    """One redis-server of our own (``extra``: more arguments, e.g. a password or TLS)."""

    extra: list[str] = field(default_factory=list)
    port: int = 0
    scheme: str = "redis"
    auth: str = ""
    query: str = ""
    process: subprocess.Popen[bytes] | None = None
    directory: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="redis-")))

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.auth}127.0.0.1:{self.port}/0{self.query}"

    def start(self) -> RedisServer:
        binary = shutil.which("redis-server")
        assert binary is not None
        self.port = self.port or free_port()
        listen = ["--port", str(self.port)] if self.scheme == "redis" else []
        keep_nothing = ["--save", "", "--appendonly", "no"]  # a restart comes back empty
        where = ["--dir", str(self.directory)]
        self.process = subprocess.Popen(
            [binary, "--bind", "127.0.0.1", *listen, *keep_nothing, *where, *self.extra],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port, self.process, 10)
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        self.process = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


def redis_available() -> bool:
    return shutil.which("redis-server") is not None


def prefix() -> str:
    """A key prefix of its own for one test: tests share one redis-server."""
    return "t" + secrets.token_hex(6)


@dataclass
class PostgresServer:
    port: int = 0
    directory: Path | None = None
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> PostgresServer:
        binaries = postgres_binaries()
        assert binaries is not None
        initdb = binaries[0]
        as_user: list[str] = []
        self.directory = Path(tempfile.mkdtemp(prefix="pg-"))
        if os.geteuid() == 0:  # initdb refuses root: the postgres user runs it all
            user = pwd.getpwnam("postgres")
            os.chown(self.directory, user.pw_uid, user.pw_gid)
            as_user = ["runuser", "-u", "postgres", "--"]
        data = self.directory / "data"
        subprocess.run(
            [*as_user, initdb, "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.port = free_port()
        self._launch()
        return self

    def _launch(self) -> None:
        assert self.directory is not None
        binaries = postgres_binaries()
        assert binaries is not None
        as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        where = [
            "-D",
            str(self.directory / "data"),
            "-p",
            str(self.port),
            "-k",
            str(self.directory),
        ]
        fast = ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
        self.process = subprocess.Popen(
            [*as_user, binaries[1], *where, "-c", "listen_addresses=127.0.0.1", *fast],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port, self.process, 30)
        self._wait_ready()

    def _wait_ready(self) -> None:
        import psycopg

        deadline = time.monotonic() + 30
        while True:
            try:
                psycopg.connect(self.url, connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def stop(self) -> None:
        """A fast shutdown (pg_ctl's: sessions cut, shared memory released), so that the
        same data directory starts again at once."""
        if self.process is not None and self.process.poll() is None:
            assert self.directory is not None
            binaries = postgres_binaries()
            assert binaries is not None
            pg_ctl = str(Path(binaries[0]).with_name("pg_ctl"))
            as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
            subprocess.run(
                [*as_user, pg_ctl, "-D", str(self.directory / "data"), "stop", "-m", "fast", "-w"],
                check=False,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            self.process.wait(20)
        self.process = None

    def restart(self) -> None:
        self._launch()

    def close(self) -> None:
        self.stop()
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)

    def database(self) -> str:
        """A new, empty database of its own (tests share one server)."""
        import psycopg

        name = "t" + secrets.token_hex(6)
        with psycopg.connect(self.url, autocommit=True) as db:
            db.execute(f"CREATE DATABASE {name}")
        return self.url.rsplit("/", 1)[0] + "/" + name


def postgres_binaries() -> tuple[str, str] | None:
    """Debian's initdb and postgres (not on PATH there: under /usr/lib/postgresql)."""
    initdb, postgres = shutil.which("initdb"), shutil.which("postgres")
    if initdb and postgres:
        return initdb, postgres
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        bin_dir = Path(found[-1]).parent
        return str(bin_dir / "initdb"), str(bin_dir / "postgres")
    return None


def postgres_available() -> bool:
    if postgres_binaries() is None:
        return False
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return False
        return shutil.which("runuser") is not None
    return True
