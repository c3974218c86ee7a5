"""The dependency locks (``requirements/*.lock``, made by ``requirements/update.sh``).

A lock is pip's requirements format as uv writes it: one ``name==version ; marker``
per pinned release, its ``--hash=sha256:…`` lines continued with backslashes. A
universal lock may pin one package twice under exclusive markers (numpy for Python
< 3.12 and >= 3.12); :func:`pins_for` picks what one interpreter would install.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from packaging.markers import Marker, default_environment
from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
RUNTIME_LOCK = ROOT / "requirements" / "runtime.lock"
TEST_LOCK = ROOT / "requirements" / "test.lock"
HASH = re.compile(r"--hash=(sha256:[0-9a-f]{64})")
Environment = dict[str, str]


class LockError(Exception):
    """A lock line that pip would not accept as an exact, hashed pin."""


@dataclass(frozen=True)
class Pin:
    name: NormalizedName
    version: Version
    marker: Marker | None
    hashes: frozenset[str]

    def applies(self, env: Environment) -> bool:
        return self.marker is None or self.marker.evaluate(env)


def read_lock(path: Path) -> list[Pin]:
    pins = []
    for line in _logical_lines(path.read_text(encoding="utf-8")):
        spec = line.split(" --hash=", 1)[0].strip()
        requirement = Requirement(spec)
        exact = [s for s in requirement.specifier if s.operator == "=="]
        if len(exact) != 1 or len(requirement.specifier) != 1:
            raise LockError(f"{path.name}: {spec!r} is not pinned to one version")
        pins.append(
            Pin(
                canonicalize_name(requirement.name),
                Version(exact[0].version),
                requirement.marker,
                frozenset(HASH.findall(line)),
            )
        )
    return pins


def _logical_lines(text: str) -> list[str]:
    lines: list[str] = []
    current = ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if stripped.startswith("#") or not stripped:
            continue
        current += " " + stripped.removesuffix("\\").strip()
        if not stripped.endswith("\\"):
            lines.append(current.strip())
            current = ""
    if current:
        lines.append(current.strip())
    return lines


def environment(python: str) -> Environment:
    """This machine's marker environment, as a CPython ``python`` would see it: "3.13"
    (its first release), or a full version such as "3.11.7" (markers like
    ``python_full_version < '3.11.3'`` tell 3.11 releases apart)."""
    env: Environment = {str(k): str(v) for k, v in default_environment().items()}
    full = python if python.count(".") == 2 else f"{python}.0"
    env.update(
        python_version=".".join(full.split(".")[:2]),
        python_full_version=full,
        implementation_name="cpython",
        platform_python_implementation="CPython",
    )
    return env


def pins_for(pins: list[Pin], env: Environment) -> dict[NormalizedName, Pin]:
    """What pip installs from the lock in ``env``: one pin per package, or LockError."""
    chosen: dict[NormalizedName, Pin] = {}
    for pin in pins:
        if not pin.applies(env):
            continue
        if pin.name in chosen:
            raise LockError(f"{pin.name} is pinned twice for Python {env['python_version']}")
        chosen[pin.name] = pin
    return chosen


def direct_requirements(*extras: str) -> list[Requirement]:
    """pyproject.toml's dependencies, plus those of each optional ``extras`` group."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    lines = list(project["dependencies"])
    for extra in extras:
        lines.extend(project["optional-dependencies"][extra])
    return [Requirement(line) for line in lines]
