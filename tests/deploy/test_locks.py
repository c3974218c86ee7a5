"""The dependency locks agree with pyproject.toml, for every supported Python.

The locks are what CI installs (``requirements/test.lock``) and what production is
told to install (``requirements/runtime.lock``); ``requirements/update.sh`` makes
them. A dependency added to or tightened in pyproject.toml without regenerating
them fails here, naming the package.
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.support.locks import (
    RUNTIME_LOCK,
    TEST_LOCK,
    direct_requirements,
    environment,
    pins_for,
    read_lock,
)

PYTHONS = ("3.11", "3.13")  # requires-python's floor and the newest we run in CI
LOCKS = [
    pytest.param(RUNTIME_LOCK, (), id="runtime"),
    pytest.param(TEST_LOCK, ("test",), id="test"),
]


@pytest.mark.parametrize("python", PYTHONS)
@pytest.mark.parametrize(("lock", "extras"), LOCKS)
def test_every_direct_dependency_is_pinned_within_its_specifier(
    lock: Path, extras: tuple[str, ...], python: str
) -> None:
    env = environment(python)
    pins = pins_for(read_lock(lock), env)  # at most one pin per package for this Python
    for requirement in direct_requirements(*extras):
        name = canonicalize_name(requirement.name)
        if requirement.marker is not None and not requirement.marker.evaluate(env):
            # e.g. audioop-lts: in the standard library before 3.13, never installed there
            assert name not in pins, f"{lock.name} installs {name} on {python}: {requirement}"
            continue
        assert name in pins, f"{lock.name} has no pin for {requirement} on Python {python}"
        version = pins[name].version
        assert requirement.specifier.contains(version, prereleases=True), (
            f"{lock.name} pins {name}=={version} on Python {python}, outside {requirement}"
        )


def test_python_313_gets_audioop_lts_and_311_does_not() -> None:
    for lock in (RUNTIME_LOCK, TEST_LOCK):
        pins = read_lock(lock)
        assert "audioop-lts" in pins_for(pins, environment("3.13"))
        assert "audioop-lts" not in pins_for(pins, environment("3.11"))


@pytest.mark.parametrize("lock", [RUNTIME_LOCK, TEST_LOCK], ids=["runtime", "test"])
def test_every_pin_carries_hashes(lock: Path) -> None:
    pins = read_lock(lock)
    assert len(pins) >= 20
    unhashed = [str(p.name) for p in pins if not p.hashes]
    assert not unhashed, f"{lock.name}: no --hash for {unhashed} (pip --require-hashes refuses)"


@pytest.mark.parametrize("python", PYTHONS)
def test_production_runs_exactly_what_ci_tested(python: str) -> None:
    env = environment(python)
    tested = pins_for(read_lock(TEST_LOCK), env)
    for name, pin in pins_for(read_lock(RUNTIME_LOCK), env).items():
        assert name in tested, f"runtime.lock pins {name}, which CI never installs"
        assert pin.version == tested[name].version, (
            f"{name}: runtime.lock {pin.version}, test.lock {tested[name].version} on {python}"
        )
        assert pin.hashes <= tested[name].hashes, f"{name}: hashes differ between the locks"


def test_the_extras_we_ask_for_are_pinned() -> None:
    """uvicorn[standard] must bring its extras (uvloop, httptools, ...) into the lock.

    The extra's requirements come from the installed distribution's metadata, which
    is the locked release when the environment was installed from the lock (CI)."""
    env = environment("3.11")
    pins = pins_for(read_lock(RUNTIME_LOCK), env)
    checked = 0
    for requirement in direct_requirements():
        for extra in sorted(requirement.extras):
            name = canonicalize_name(requirement.name)
            installed = importlib.metadata.version(name)
            if str(pins[name].version) != installed:
                pytest.skip(f"{name} {installed} is installed, not the locked {pins[name].version}")
            for line in importlib.metadata.requires(name) or []:
                needed = Requirement(line)
                if needed.marker is None or not needed.marker.evaluate({**env, "extra": extra}):
                    continue
                if needed.marker.evaluate({**env, "extra": ""}):
                    continue  # not brought by the extra
                dep = canonicalize_name(needed.name)
                assert dep in pins, f"{requirement} needs {needed}; runtime.lock has no pin"
                assert needed.specifier.contains(pins[dep].version, prereleases=True)
                checked += 1
    assert checked >= 5  # uvicorn[standard]: httptools, dotenv, pyyaml, uvloop, watchfiles, ...
