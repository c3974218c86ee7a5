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


ROOT = DOCS.parent
PAGES = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def slugs(page: Path) -> set[str]:
    """The anchors a page's headings get (GitHub's rule: lower case, punctuation
    dropped, spaces to hyphens)."""
    headings = re.findall(r"^#+ (.+)$", page.read_text(), re.M)
    return {re.sub(r"[^\w -]", "", h).strip().lower().replace(" ", "-") for h in headings}


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_links_lead_to_files_and_headings_that_exist(page: Path) -> None:
    """Every relative link of the README and the docs: the file exists, and so does the
    heading it points at (the README is a landing page; the docs are found from it)."""
    for link in LINK.findall(page.read_text()):
        if re.match(r"[a-z]+:", link):
            continue  # http(s), mailto: another site's business
        target, _, anchor = link.partition("#")
        linked = (page.parent / target).resolve() if target else page
        assert linked.exists(), f"{page.name} links to {link}: no such file"
        if anchor and linked.suffix == ".md":
            assert anchor in slugs(linked), f"{page.name} links to {link}: no such heading"


def test_every_docs_page_is_linked_from_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    unlinked = [
        p.name
        for p in DOCS.glob("*.md")
        if f"docs/{p.name}" not in readme and not p.name.startswith("mutation-survivors")
    ]
    assert not unlinked, f"docs pages no table of contents leads to: {unlinked}"
