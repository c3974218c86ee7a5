from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.installed import build_wheel


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project's wheel, built once per test session from the checkout as it is."""
    return build_wheel(tmp_path_factory.mktemp("wheel"))
