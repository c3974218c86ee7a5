"""The softphone's pages as a browser shows them: the icon (asked for by the browser on
its own), and a sign-in page styled like the softphone, in headless Chromium."""

from __future__ import annotations

from typing import Any

import httpx

from app.server.favicon import ICO, SVG
from tests.support.browser import ARTIFACTS, chromium
from tests.support.server import serve_app, settings_for_echo

OPERATOR = "operator-token-0123456789-abcdefghij"


def softphone(**values: Any) -> Any:
    return settings_for_echo(enable_softphone=True, operator_token=OPERATOR, **values)


async def test_the_icon_is_served_with_the_softphone_only() -> None:
    async with serve_app(softphone()) as server, httpx.AsyncClient(base_url=server.base) as http:
        ico = await http.get("/favicon.ico")
        svg = await http.get("/favicon.svg")
        assert (ico.status_code, ico.headers["content-type"], ico.content) == (
            200,
            "image/x-icon",
            ICO,
        )
        assert svg.headers["content-type"].startswith("image/svg+xml") and svg.text == SVG
        assert "max-age" in ico.headers["cache-control"]
        bad = await http.get("/favicon.ico", params={"v": "2"})
        assert bad.status_code == 400 and "unknown query parameter 'v'" in bad.text
        page = (await http.get("/softphone")).text
        assert '<link rel="icon" href="/favicon.svg"' in page
    async with serve_app(settings_for_echo()) as server, httpx.AsyncClient() as http:
        assert (await http.get(server.base + "/favicon.ico")).status_code == 404


async def test_the_sign_in_page_is_styled_and_the_browser_finds_the_icon() -> None:
    async with serve_app(softphone()) as server, chromium() as browser:
        page = await browser.new_page()
        asked: list[str] = []
        page.on("request", lambda request: asked.append(request.url))
        await page.goto(server.base + "/softphone")
        button = await page.evaluate(
            "getComputedStyle(document.querySelector('button')).backgroundColor"
        )
        card = await page.evaluate("getComputedStyle(document.querySelector('main')).boxShadow")
        width = await page.evaluate("document.querySelector('input').getBoundingClientRect().width")
        focused = await page.evaluate("document.activeElement.name")
        await page.wait_for_timeout(300)  # the icon is fetched after the page
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "softphone-sign-in.png"))
    assert button == "rgb(31, 157, 85)"  # the Call button's green, not the browser's grey
    assert card != "none" and width > 300  # a card, with a full-width field
    assert focused == "token"
    assert any(url.endswith("/favicon.svg") or url.endswith("/favicon.ico") for url in asked)
