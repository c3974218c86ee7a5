"""The docs pages that describe tables in the code say what the code holds, and their
links lead somewhere."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from app.agent.gemini.catalog import LIVE_MODELS, VOICES

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_the_models_page_lists_the_catalog() -> None:
    page = (DOCS / "models.md").read_text()
    rows = re.findall(r"^\| `([^`]+)` \| (Developer API|Vertex AI) \|", page, re.M)
    listed = {
        (name, "the " + backend if backend == "Developer API" else backend)
        for name, backend in rows
    }
    assert listed == {(m.name, str(m.backend)) for m in LIVE_MODELS}
    for model in LIVE_MODELS:
        if model.shut_down:
            assert (
                f"`{model.name}` | {model.backend.removeprefix('the ')} | shut down {model.shut_down}"
                in page
            )
    voices = re.search(r"The 30 prebuilt voices: ([^.]+)\.", page.replace("\n", " "))
    assert voices is not None and voices.group(1).split(", ") == list(VOICES)


@pytest.mark.parametrize("page", ["models.md", "commands.md", "troubleshooting.md"])
def test_links_lead_to_pages_and_headings_that_exist(page: str) -> None:
    for target, anchor in re.findall(
        r"\]\(([\w./-]+\.md)(?:#([\w-]+))?\)", (DOCS / page).read_text()
    ):
        linked = DOCS / target
        assert linked.exists(), target
        if anchor:
            headings = re.findall(r"^#+ (.+)$", linked.read_text(), re.M)
            slugs = {re.sub(r"[^\w -]", "", h).strip().lower().replace(" ", "-") for h in headings}
            assert anchor in slugs, (target, anchor, slugs)
