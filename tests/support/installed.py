"""The project as an operator installs and runs it: a wheel, a fresh venv, real processes.

:func:`build_wheel` builds the wheel from a clean copy of the checkout (so a stale
``build/`` directory can never leak removed files into it). :func:`install` makes a
fresh venv with one Python and installs the wheel non-editable, either from the
hashed lock (``locked``: what production is told to run) or with the newest
releases pyproject.toml allows (``newest``: what an upstream release would bring).
:class:`ServerProcess` starts an entry point of that venv from a working directory
of its own and waits until it answers ``/healthz``.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import httpx
import pytest

from tests.support.locks import ROOT, RUNTIME_LOCK

Dependencies = Literal["locked", "newest"]
# The releases that matter most to the server, reported for every leg.
REPORTED = (
    "google-genai",
    "twilio",
    "aiohttp",
    "starlette",
    "uvicorn",
    "websockets",
    "numpy",
    "pydantic",
)
# Never copied into the wheel's build tree: caches, environments, earlier builds.
NOT_SOURCE = shutil.ignore_patterns(
    ".git",
    ".venv",
    "venv",
    "build",
    "dist",
    "*.egg-info",
    "__pycache__",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
    ".hypothesis",
    "test-artifacts",
    "calls.sqlite3*",
    ".env",
)
INSTALL_TIMEOUT_S = 600
ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS", ROOT / "test-artifacts"))


class InstallFailed(AssertionError):
    pass


def _interpreter_version(command: str) -> tuple[str, Path] | None:
    """(major.minor, the base interpreter's path) of ``command``, or None if it does not run."""
    probe = (
        "import sys; print('%d.%d' % sys.version_info[:2]);"
        " print(getattr(sys, '_base_executable', sys.executable))"
    )
    try:
        done = subprocess.run(
            [command, "-c", probe], capture_output=True, text=True, timeout=30, check=False
        )
    except OSError:
        return None
    lines = done.stdout.split()
    if done.returncode != 0 or len(lines) != 2:
        return None  # e.g. a pyenv shim for a version that is not selected
    return lines[0], Path(lines[1])


def _pyenv_root() -> Path | None:
    if os.environ.get("PYENV_ROOT"):
        return Path(os.environ["PYENV_ROOT"])
    pyenv = shutil.which("pyenv")
    if pyenv is not None:
        done = subprocess.run([pyenv, "root"], capture_output=True, text=True, check=False)
        if done.returncode == 0 and done.stdout.strip():
            return Path(done.stdout.strip())
    home = Path.home() / ".pyenv"
    return home if home.is_dir() else None


def find_python(version: str) -> Path | None:
    """A CPython ``version`` (e.g. "3.13"): ``python3`` on PATH if it is that version,
    then ``python3.X`` on PATH, then pyenv's installed versions."""
    candidates = ["python3", f"python{version}"]
    root = _pyenv_root()
    if root is not None:
        candidates += [
            str(path / "bin" / f"python{version}")
            for path in sorted((root / "versions").glob(f"{version}.*"), reverse=True)
        ]
    for command in candidates:
        found = _interpreter_version(command)
        if found is not None and found[0] == version:
            return found[1]
    return None


def require_python(version: str, required_by: str) -> Path:
    """The interpreter, or a skip saying what is missing; a failure where ``required_by``
    (an environment variable such as REQUIRE_PY313) is 1, as in CI."""
    python = find_python(version)
    if python is None:
        missing(
            f"no Python {version} on this machine (looked for python3, python{version} and"
            f" pyenv's versions): install it (e.g. `pyenv install {version}`) to run this leg",
            required_by,
        )
    assert python is not None
    return python


def missing(message: str, required_by: str) -> None:
    """Skip for what this machine lacks; fail instead where ``required_by`` is 1 (CI)."""
    if os.environ.get(required_by) == "1":
        pytest.fail(f"{message}; {required_by}=1 requires it")
    pytest.skip(message)


def run_checked(
    command: list[str | Path], what: str, env: dict[str, str], cwd: Path | None = None
) -> str:
    """Its stdout; :class:`InstallFailed` with both outputs' ends if it fails."""
    done = subprocess.run(
        [str(c) for c in command],
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT_S,
        check=False,
        env=env,
        cwd=cwd,
    )
    if done.returncode != 0:
        raise InstallFailed(
            f"{what} failed (exit {done.returncode}): {' '.join(map(str, command))}\n"
            f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
    return done.stdout


def tool_env() -> dict[str, str]:
    """Our environment for pip and venv, minus anything that points at this checkout."""
    drop = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP", "PYTHONUSERBASE")
    return {k: v for k, v in os.environ.items() if k not in drop}


def clean_copy(dest: Path) -> Path:
    """The checkout as it is now, without caches, environments or earlier builds: what a
    fresh clone holds (plus uncommitted changes, which are what is being tested)."""
    shutil.copytree(ROOT, dest, ignore=NOT_SOURCE, symlinks=True)
    return dest


def build_wheel(dest: Path) -> Path:
    """The project's wheel, built from a clean copy of the checkout as it is now, with the
    locked setuptools of this environment (no build isolation: nothing from the index)."""
    source = clean_copy(dest / "source")
    wheels = dest / "wheels"
    run_checked(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            wheels,
            source,
        ],
        "building the wheel",
        env=tool_env(),
    )
    (wheel,) = wheels.glob("gemini_phone_bridge-*.whl")
    return wheel


@dataclass
class Venv:
    root: Path
    python_version: str
    dependencies: Dependencies
    install_s: float = 0.0

    @property
    def bin(self) -> Path:
        return self.root / "bin"

    @property
    def python(self) -> Path:
        return self.bin / "python"

    def versions(self, names: tuple[str, ...] = REPORTED) -> dict[str, str]:
        code = (
            "import importlib.metadata as m, json, platform, sys;"
            " v = {n: m.version(n) for n in sys.argv[1:]};"
            " v['python'] = platform.python_version(); print(json.dumps(v))"
        )
        versions: dict[str, str] = json.loads(
            run_checked([self.python, "-c", code, *names], "reading versions", env=tool_env())
        )
        return versions

    def imported_from(self, env: dict[str, str], cwd: Path) -> Path:
        """Where ``import app`` comes from for a process started with ``env`` in ``cwd``."""
        out = run_checked(
            [self.python, "-c", "import app; print(app.__file__)"],
            "importing app",
            env=env,
            cwd=cwd,
        )
        return Path(out.strip())


def install(python: Path, root: Path, wheel: Path, dependencies: Dependencies) -> Venv:
    """A fresh venv with the wheel installed as an operator would install it."""
    began = time.monotonic()
    run_checked([python, "-m", "venv", root], "creating the venv", env=tool_env())
    venv = Venv(root, "", dependencies)
    pip: list[str | Path] = [venv.python, "-m", "pip", "--disable-pip-version-check", "-q"]
    if dependencies == "locked":
        run_checked(
            [*pip, "install", "--no-deps", "--require-hashes", "-r", RUNTIME_LOCK],
            "installing from the lock",
            env=tool_env(),
        )
        run_checked([*pip, "install", "--no-deps", wheel], "installing the wheel", env=tool_env())
    else:
        # Nothing cached: pip asks the index for the newest release of everything.
        run_checked(
            [*pip, "install", "--upgrade", "--upgrade-strategy", "eager", "--no-cache-dir", wheel],
            "installing the wheel with the newest dependencies",
            env=tool_env(),
        )
    run_checked([*pip, "check"], "pip check", env=tool_env())
    venv.python_version = venv.versions(())["python"]
    venv.install_s = time.monotonic() - began
    return venv


@dataclass
class ServerProcess:
    """One server process; its stdout and stderr go to ``log``."""

    command: list[str]
    env: dict[str, str]
    cwd: Path
    log: Path
    base: str
    process: subprocess.Popen[bytes] | None = None
    started_s: float = 0.0
    signals: list[signal.Signals] = field(default_factory=list)
    _began: float = field(default=0.0, repr=False)

    async def start(self, timeout: float = 60.0) -> None:
        self._began = time.monotonic()
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                self.command, cwd=self.cwd, env=self.env, stdout=out, stderr=subprocess.STDOUT
            )
        async with httpx.AsyncClient() as http:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise AssertionError(
                        f"{' '.join(self.command)} exited with {self.process.returncode}"
                        f" at startup:\n{self.log_text()}"
                    )
                try:
                    await http.get(self.base + "/healthz")
                    self.started_s = time.monotonic() - self._began
                    return
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
        self.kill()
        raise AssertionError(f"{' '.join(self.command)} did not answer:\n{self.log_text()}")

    def send(self, sig: signal.Signals) -> None:
        assert self.process is not None
        self.signals.append(sig)
        self.process.send_signal(sig)

    def describe(self, lines: int = 15) -> str:
        """How the process is doing and how its log ends (for a failure's message)."""
        assert self.process is not None
        code = self.process.poll()
        if code is None:
            state = "is still running"
        elif self.signals:
            state = f"exited with {code} after {', '.join(s.name for s in self.signals)}"
        else:
            state = f"EXITED UNASKED with {code}"
        tail = "\n".join(self.log_text().splitlines()[-lines:])
        return f"{' '.join(self.command)} {state}; its log ends:\n{tail}"

    async def wait(self, timeout: float) -> int:
        assert self.process is not None
        return await asyncio.to_thread(self.process.wait, timeout)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")
