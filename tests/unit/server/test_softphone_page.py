"""The softphone's page knows what the server knows: the outcomes that mean the bot
failed (a phone caller hears the apology), read from the page's own script."""

from __future__ import annotations

import re
from pathlib import Path

from app.call.outcome import APOLOGY_OUTCOMES

SCRIPT = Path(__file__).resolve().parents[3] / "app" / "server" / "static" / "softphone.js"


def test_the_page_names_every_apology_outcome() -> None:
    found = re.search(r"const APOLOGY_OUTCOMES = new Set\(\[([^\]]*)\]\);", SCRIPT.read_text())
    assert found is not None
    names = {name.strip().strip('"') for name in found.group(1).split(",")}
    assert names == {outcome.value for outcome in APOLOGY_OUTCOMES}
