"""``WORKERS=N``: N worker processes of the server on one port, as one.

The supervisor (``python -m app`` with ``WORKERS`` > 1) binds the port once and starts
N workers (``python -m app.server.workers --fd N``), each serving the same listening
socket with the whole app (the kernel spreads connections among them) and sharing
the calls through the Redis registry (``REDIS_URL`` is required). It

- restarts a worker that dies (a crash, an out-of-memory kill), and gives up, stopping
  the others, if workers keep dying within seconds of starting (a setting or a
  dependency that cannot work is not retried forever);
- on SIGTERM or SIGINT, passes the signal to every worker, which drains its calls
  politely as one process would (``SHUTDOWN_DRAIN_SECONDS``), all at once, and exits
  once they have; a second signal is passed on too: the workers stop at once;
- gives the workers a directory for prometheus_client's multiprocess mode
  (``PROMETHEUS_MULTIPROC_DIR``, a temporary one unless set), so ``/metrics`` from any
  worker counts them all, and removes a dead worker's live gauges.

Workers run in their own session, so a terminal's Ctrl-C reaches them only through the
supervisor (once), and each stops by itself if the supervisor disappears.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from app.settings import Settings

log = logging.getLogger(__name__)

QUICK_DEATH_S = 5.0  # a worker that dies this soon after starting did not really start
MAX_QUICK_DEATHS = 3  # in a row: then the supervisor gives up
POLL_S = 0.1


@dataclass
class Supervisor:
    workers: int
    sock: socket.socket
    env: dict[str, str]
    metrics_dir: Path
    running: dict[int, tuple[subprocess.Popen[bytes], float]] = field(default_factory=dict)
    signals: int = 0
    quick_deaths: int = 0
    restarts: int = 0
    _last_signal: int = signal.SIGTERM

    def spawn(self) -> None:
        fd = self.sock.fileno()
        process = subprocess.Popen(
            [sys.executable, "-m", "app.server.workers", "--fd", str(fd)],
            pass_fds=(fd,),
            env=self.env,
            start_new_session=True,
        )
        self.running[process.pid] = (process, time.monotonic())
        log.info("worker started (pid %d)", process.pid)

    def signalled(self, sig: int, frame: FrameType | None) -> None:
        self.signals += 1
        self._last_signal = sig
        what = "draining calls" if self.signals == 1 else "stopping at once"
        log.warning(
            "supervisor: %s received, passed to %d worker(s) (%s)",
            signal.Signals(sig).name,
            len(self.running),
            what,
        )
        for process, _ in self.running.values():
            if process.poll() is None:
                process.send_signal(sig)

    def run(self) -> int:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self.signalled)
        for _ in range(self.workers):
            self.spawn()
        status = 0
        while self.running:
            time.sleep(POLL_S)
            for pid, (process, began) in list(self.running.items()):
                code = process.poll()
                if code is None:
                    continue
                del self.running[pid]
                self.forget_metrics(pid)
                if self.signals:
                    continue  # stopping: it drained and left
                quick = time.monotonic() - began < QUICK_DEATH_S
                self.quick_deaths = self.quick_deaths + 1 if quick else 0
                log.error("worker pid %d died (%s); starting another", pid, exit_status(code))
                if self.quick_deaths >= MAX_QUICK_DEATHS:
                    log.error(
                        "supervisor: %d workers in a row died within %.0f s of starting;"
                        " stopping (see their errors above)",
                        self.quick_deaths,
                        QUICK_DEATH_S,
                    )
                    status = 1
                    self.signalled(signal.SIGTERM, None)
                    continue
                self.restarts += 1
                self.spawn()
        return status

    def forget_metrics(self, pid: int) -> None:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid, str(self.metrics_dir))  # type: ignore[no-untyped-call]


def exit_status(code: int) -> str:
    if code < 0:
        return f"killed by {signal.Signals(-code).name}"
    return f"exit status {code}"


def metrics_dir(settings: Settings) -> tuple[Path, bool]:
    """PROMETHEUS_MULTIPROC_DIR emptied of an earlier run's files, or a new temporary one
    (True: remove it at the end)."""
    if settings.prometheus_multiproc_dir:
        directory = Path(settings.prometheus_multiproc_dir)
        directory.mkdir(parents=True, exist_ok=True)
        for stale in directory.glob("*.db"):
            stale.unlink()
        return directory, False
    return Path(tempfile.mkdtemp(prefix="phonebot-metrics-")), True


def supervise(settings: Settings, sock: socket.socket) -> int:
    """Run ``settings.workers`` workers on ``sock`` until a signal; the exit status."""
    directory, temporary = metrics_dir(settings)
    env = dict(os.environ)  # the workers read the same settings: the environment, .env
    env["PROMETHEUS_MULTIPROC_DIR"] = str(directory)  # before they import prometheus_client
    log.info(
        "supervisor: %d workers on one port, calls shared through Redis, metrics in %s",
        settings.workers,
        directory,
    )
    supervisor = Supervisor(settings.workers, sock, env, directory)
    try:
        return supervisor.run()
    finally:
        sock.close()
        if temporary:
            shutil.rmtree(directory, ignore_errors=True)


def uvicorn_worker_count() -> int:
    """``uvicorn app.main:app --workers N``: N, read from the parent's command line (1 when
    the parent is not uvicorn's supervisor). Linux's /proc; elsewhere 1."""
    try:
        words = Path(f"/proc/{os.getppid()}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return 1
    text = [w.decode(errors="replace") for w in words]
    if not any("uvicorn" in w for w in text[:3]):
        return 1
    for i, word in enumerate(text):
        value = text[i + 1] if word == "--workers" and i + 1 < len(text) else None
        if word.startswith("--workers="):
            value = word.partition("=")[2]
        if value is not None:
            return int(value) if value.isdigit() else 1
    return 1


def watch_parent() -> None:
    """Stop (politely: SIGTERM to this process) if the supervisor disappears."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        log.error("the supervisor is gone: this worker drains its calls and stops")
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="supervisor watch", daemon=True).start()


def worker(argv: list[str] | None = None) -> None:
    """One worker: the whole app on the supervisor's listening socket."""
    from app.errors import ConfigError, ToolDefinitionError
    from app.logs import configure_logging
    from app.server.app import create_app
    from app.server.serve import serve
    from app.settings import load_settings

    parser = argparse.ArgumentParser(prog="python -m app.server.workers")
    parser.add_argument("--fd", type=int, required=True, help="the listening socket")
    args = parser.parse_args(argv)
    sock = socket.socket(fileno=args.fd)
    try:
        settings = load_settings()
        app = create_app(settings)
    except (ConfigError, ToolDefinitionError) as error:
        sys.exit(f"configuration error: {error}")
    configure_logging(settings)
    watch_parent()
    serve(app, settings, sock)


if __name__ == "__main__":
    worker()
