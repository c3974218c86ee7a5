"""How `pytest -q` runs: the fast tiers first, each announced, and every skip's reason
in the summary (so a missing browser or Python is seen, not hidden)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def pytest(*args: str, cwd: Path = ROOT) -> str:
    ran = subprocess.run(
        [sys.executable, "-m", "pytest", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return ran.stdout


def test_the_tiers_run_unit_then_e2e_then_deploy() -> None:
    listed = pytest(
        "--collect-only", "-q", "tests/deploy/test_locks.py", "tests/e2e/test_web.py",
        "tests/unit/test_spelling.py",
    )  # fmt: skip
    tiers = [line.split("/")[1] for line in listed.splitlines() if line.startswith("tests/")]
    firsts = [tier for i, tier in enumerate(tiers) if i == 0 or tiers[i - 1] != tier]
    assert firsts == ["unit", "e2e", "deploy"]


def test_each_tier_says_what_it_does_when_it_begins() -> None:
    out = pytest(
        "-q",
        "tests/deploy/test_locks.py",
        "tests/unit/test_spelling.py",
        "-k",
        "python_313 or one_of",
    )
    lines = out.splitlines()
    assert lines[0] == "tests/unit: the pure modules and the call driver (seconds)"
    assert lines[2].startswith("tests/deploy: the wheel installed in fresh venvs")


def test_a_skip_says_why(tmp_path: Path) -> None:
    (tmp_path / "test_skips.py").write_text(
        "import pytest\n\ndef test_needs_a_browser():\n    pytest.skip('no Chromium here')\n"
    )
    out = pytest("-q", "-c", str(ROOT / "pyproject.toml"), str(tmp_path), cwd=tmp_path)
    assert "SKIPPED [1] test_skips.py:4: no Chromium here" in out
