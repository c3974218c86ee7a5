"""The README's two commands, exactly as written, as a stranger runs them next month.

Each leg copies the checkout as a fresh clone holds it, makes the venv with the pip
that leg's Python bundles (never upgraded), and runs the README's command in a shell,
against a package index that also offers releases NEWER than the lock:

- google-auth 2.99.0, which google-genai asks for as ``google-auth[requests]``: pips
  22.3 to 23.2.1 resolve such an extra to the newest release on the index and then
  refuse it for having no pin (how the lock broke four days after it was made);
- setuptools 999.0, which fails any build that uses it: a build that fetches its
  backend from the index (build isolation) instead of the locked release.

The install must put exactly the locked releases in place, nothing newer and nothing
else; then the command's last step runs (the server answers ``/healthz``; the test
tools collect the unit tests). The pips: 22.3 (Python 3.11.0's; a ``venv
--without-pip`` plus a hashed pip 22.3, since that Python cannot be fetched here),
23.0.1 (Debian 12's ``python3 -m venv``), 23.2.1 (Python 3.11.7's) and 24.2 (3.13.0's).
Each leg's figures go to ``test-artifacts/fresh-install/`` (``.ci/run`` prints them).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from packaging.utils import canonicalize_name

from tests.support.installed import (
    ARTIFACTS,
    clean_copy,
    find_python,
    missing,
    run_checked,
    tool_env,
)
from tests.support.locks import ROOT, RUNTIME_LOCK, TEST_LOCK, environment, pins_for, read_lock
from tests.support.server import free_port

# pip 22.3 as PyPI publishes it (the digest is PyPI's, from its simple index).
PIP_22_3 = (
    "pip==22.3 --hash=sha256:1daab4b8d3b97d1d763caeb01a4640a2250a0ea899e257b1e44b9eded91e15ab"
)
MAKE_VENV = "python3 -m venv .venv && "
COMMAND_TIMEOUT_S = 600
NEWER_THAN_ANY_LOCK = {"google-auth": "2.99.0", "setuptools": "999.0"}


@dataclass(frozen=True)
class Leg:
    id: str
    python: str  # "3.11", "3.13", or a path
    pip: str  # the pip that leg's venv must have
    without_pip: bool = False  # venv --without-pip, then the hashed pip 22.3


LEGS = [
    Leg("pip22.3", "3.11", "22.3", without_pip=True),
    Leg("pip23.0.1-debian12", "/usr/bin/python3", "23.0.1"),
    Leg("pip23.2.1-py3.11", "3.11", "23.2.1"),
    Leg("pip24.2-py3.13", "3.13", "24.2"),
]


def readme_commands() -> dict[str, str]:
    """The README's two set-up commands, by what they end in: "serve" and "test"."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    found = re.findall(r"^    (python3 -m venv \.venv && .+)$", readme, re.M)
    commands = {"serve" if c.endswith("-m app") else "test": c for c in found}
    assert len(found) == 2 and set(commands) == {"serve", "test"}, found
    assert commands["test"].endswith(" && .venv/bin/python -m pytest -q"), commands["test"]
    return commands


def record_line(path: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}"


def fake_wheel(folder: Path, name: str, version: str, files: dict[str, str], meta: str) -> Path:
    """A real wheel, made here, of a release the lock does not pin."""
    dist = f"{name.replace('-', '_')}-{version}"
    contents = {path: text.encode() for path, text in files.items()}
    contents[f"{dist}.dist-info/METADATA"] = (
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n{meta}"
    ).encode()
    contents[f"{dist}.dist-info/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    record = [record_line(path, data) for path, data in contents.items()]
    contents[f"{dist}.dist-info/RECORD"] = (
        "\n".join([*record, f"{dist}.dist-info/RECORD,,"]) + "\n"
    ).encode()
    wheel = folder / f"{dist}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, data in contents.items():
            archive.writestr(path, data)
    return wheel


def newer_index(folder: Path) -> Path:
    """A find-links folder holding releases newer than the lock's, each harmful if used."""
    folder.mkdir()
    used = "raise ImportError('{} {} is newer than the lock and must never be installed')"
    fake_wheel(
        folder,
        "google-auth",
        NEWER_THAN_ANY_LOCK["google-auth"],
        {"google/auth/__init__.py": used.format("google-auth", "2.99.0")},
        "Requires-Python: >=3.8\nProvides-Extra: requests\n"
        'Requires-Dist: requests>=2.20; extra == "requests"\n',
    )
    fake_wheel(
        folder,
        "setuptools",
        NEWER_THAN_ANY_LOCK["setuptools"],
        {
            "setuptools/__init__.py": used.format("setuptools", "999.0"),
            "setuptools/build_meta.py": used.format("setuptools", "999.0"),
        },
        "Requires-Python: >=3.8\n",
    )
    return folder


def python_for(leg: Leg) -> Path:
    if leg.python.startswith("/"):
        found = Path(leg.python)
        if not found.exists():
            missing(
                f"no {leg.python} (Debian's python3 and python3-venv packages)",
                "REQUIRE_FRESH_INSTALL",
            )
        return found
    python = find_python(leg.python)
    if python is None:
        missing(f"no Python {leg.python} (pyenv install {leg.python})", "REQUIRE_FRESH_INSTALL")
    assert python is not None
    return python


def run(command: list[str | Path], cwd: Path, env: dict[str, str]) -> str:
    return run_checked(command, f"{command[0]} {command[1]}", env, cwd)


def pip_22_3(venv: Path, where: Path, env: dict[str, str]) -> None:
    """pip 22.3 into a venv made --without-pip, checked against PyPI's hash."""
    requirement = where / "pip-22.3.txt"
    requirement.write_text(PIP_22_3 + "\n", encoding="utf-8")
    download = where / "pip-wheel"
    run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "-q",
            "--no-deps",
            "--require-hashes",
            "--only-binary",
            ":all:",
            "-r",
            requirement,
            "-d",
            download,
        ],
        where,
        env,
    )
    (wheel,) = download.glob("pip-22.3-*.whl")
    python = venv / "bin" / "python"
    run([python, f"{wheel}/pip", "install", "-q", "--no-index", wheel], where, env)


def installed(venv: Path, env: dict[str, str]) -> dict[str, str]:
    code = (
        "import importlib.metadata as m, json;"
        " print(json.dumps({d.metadata['Name']: d.version for d in m.distributions()}))"
    )
    out = run([venv / "bin" / "python", "-c", code], venv, env)
    return {canonicalize_name(k): v for k, v in json.loads(out).items()}


def exactly_the_lock(lock: Path, venv: Path, python_version: str, env: dict[str, str]) -> None:
    """Every locked release for this Python is installed at its version, and nothing else
    but pip and the project."""
    wanted = {
        name: str(pin.version)
        for name, pin in pins_for(read_lock(lock), environment(python_version)).items()
    }
    have = installed(venv, env)
    ours = {canonicalize_name("pip"), canonicalize_name("gemini-phone-bridge")}
    wrong = {n: (v, have.get(n)) for n, v in wanted.items() if have.get(n) != v}
    extra = sorted(set(have) - set(wanted) - ours)
    assert not wrong, f"not the locked release (locked, installed): {wrong}"
    assert not extra, f"installed beyond the lock: {extra}"
    for name, newer in NEWER_THAN_ANY_LOCK.items():
        assert have[canonicalize_name(name)] != newer


def shell_env(python: Path, index: Path, home: Path) -> dict[str, str]:
    """A stranger's shell: this leg's python3 first on PATH, the newer releases offered."""
    env = tool_env()
    env.update(
        PATH=f"{python.parent}:{env.get('PATH', '/usr/bin:/bin')}",
        PIP_FIND_LINKS=str(index),
        HOME=str(home),
        PIP_CACHE_DIR=str(Path.home() / ".cache" / "pip"),  # downloads are not the point
    )
    return env


def serve_until_healthy(command: str, cwd: Path, env: dict[str, str]) -> tuple[float, int]:
    """The serve command, as written, until the server answers /healthz; then SIGTERM.
    Returns (seconds until healthy, the shell's exit status)."""
    port = free_port()
    env = {**env, "AGENT": "echo", "ALLOW_UNSIGNED_REQUESTS": "true", "PORT": str(port)}
    log = cwd / "serve.log"
    began = time.monotonic()
    with log.open("wb") as out:
        shell = subprocess.Popen(
            ["bash", "-c", command],
            cwd=cwd,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = began + COMMAND_TIMEOUT_S
        while time.monotonic() < deadline:
            if shell.poll() is not None:
                raise AssertionError(
                    f"the command exited {shell.returncode}:\n{log.read_text()[-4000:]}"
                )
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.25)
        else:
            raise AssertionError(
                f"no /healthz within {COMMAND_TIMEOUT_S} s:\n{log.read_text()[-4000:]}"
            )
        healthy = time.monotonic() - began
        os.killpg(shell.pid, signal.SIGTERM)
        return healthy, shell.wait(30)
    finally:
        if shell.poll() is None:
            os.killpg(shell.pid, signal.SIGKILL)
            shell.wait(10)


def report(leg: Leg, fields: dict[str, object]) -> None:
    out = ARTIFACTS / "fresh-install"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{leg.id}-{fields['command']}.json").write_text(
        json.dumps({"leg": leg.id, **fields}) + "\n", encoding="utf-8"
    )


def checkout(tmp_path: Path, leg: Leg) -> tuple[Path, Path, dict[str, str], str]:
    python = python_for(leg)
    where = clean_copy(tmp_path / "clone")
    env = shell_env(python, newer_index(tmp_path / "newer"), tmp_path / "home")
    (tmp_path / "home").mkdir()
    version = run(
        [python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"], where, env
    ).strip()
    return python, where, env, version


def made_venv(leg: Leg, python: Path, where: Path, command: str, env: dict[str, str]) -> str:
    """The command to run: as written, or (pip 22.3) without its venv step, after
    making that venv here with the hashed pip 22.3."""
    assert command.startswith(MAKE_VENV), command
    if not leg.without_pip:
        return command
    run([python, "-m", "venv", "--without-pip", ".venv"], where, env)
    pip_22_3(where / ".venv", where, env)
    return command.removeprefix(MAKE_VENV)


def pip_version(where: Path, env: dict[str, str]) -> str:
    out = run([where / ".venv" / "bin" / "python", "-m", "pip", "--version"], where, env)
    return out.split()[1]


@pytest.mark.parametrize("leg", LEGS, ids=[leg.id for leg in LEGS])
def test_the_serve_command_as_written(tmp_path: Path, leg: Leg) -> None:
    python, where, env, version = checkout(tmp_path, leg)
    command = made_venv(leg, python, where, readme_commands()["serve"], env)
    healthy_s, status = serve_until_healthy(command, where, env)
    pip = pip_version(where, env)
    report(
        leg, {"command": "serve", "python": version, "pip": pip, "healthy_s": round(healthy_s, 1)}
    )
    assert pip == leg.pip, f"this leg is meant for pip {leg.pip}; the venv has {pip}"
    exactly_the_lock(RUNTIME_LOCK, where / ".venv", version, env)
    assert status == 0, f"the server exited {status} on SIGTERM"


TEST_LEGS = [leg for leg in LEGS if leg.id in ("pip22.3", "pip24.2-py3.13")]


@pytest.mark.parametrize("leg", TEST_LEGS, ids=[leg.id for leg in TEST_LEGS])
def test_the_test_command_as_written(tmp_path: Path, leg: Leg) -> None:
    """All of it but running the whole suite (this is part of it): the tools then collect
    the unit tests instead."""
    python, where, env, version = checkout(tmp_path, leg)
    command = made_venv(leg, python, where, readme_commands()["test"], env)
    set_up = command.removesuffix(" && .venv/bin/python -m pytest -q")
    began = time.monotonic()
    run(["bash", "-c", set_up], where, env)
    install_s = time.monotonic() - began
    collected = run(
        [".venv/bin/python", "-m", "pytest", "-q", "--collect-only", "tests/unit"], where, env
    )
    pip = pip_version(where, env)
    report(
        leg, {"command": "test", "python": version, "pip": pip, "install_s": round(install_s, 1)}
    )
    assert pip == leg.pip
    exactly_the_lock(TEST_LOCK, where / ".venv", version, env)
    assert re.search(r"^\d+ tests collected", collected, re.M), collected[-2000:]
