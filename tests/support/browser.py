"""Headless Chromium (Debian's ``chromium``) driven by Playwright, with a fake microphone.

The microphone plays a WAV file (Chromium loops it); permission prompts are answered
yes. The browser's autoplay policy is left as it is, so the page must start its audio
from the user's click, as it must for real users. Without the browser the tests skip, unless ``REQUIRE_BROWSER=1`` (as in CI), where
a missing browser fails them.
"""

from __future__ import annotations

import os
import shutil
import wave
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright

from tests.support.server import ROOT

ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS", ROOT / "test-artifacts"))


def chromium_path() -> str:
    path = (
        os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    )
    if path is None:
        message = "no Chromium: `apt-get install chromium` (Debian) to run the browser tests"
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return path


def write_wav(path: Path, pcm16: bytes, rate: int) -> Path:
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(pcm16)
    return path


@asynccontextmanager
async def chromium(microphone_wav: Path | None = None) -> AsyncIterator[Browser]:
    args = [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
    ]
    if microphone_wav is not None:
        args.append(f"--use-file-for-fake-audio-capture={microphone_wav}")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=chromium_path(), headless=True, args=args
        )
        try:
            yield browser
        finally:
            await browser.close()


async def open_softphone(page: Page, base: str, token: str, options: str = "") -> None:
    """Open the softphone as its user does: the sign-in form, then the page."""
    await page.goto(f"{base}/softphone" + (f"?{options}" if options else ""))
    await page.fill("input[name=token]", token)
    async with page.expect_navigation():
        await page.click("button")
    await page.wait_for_selector("#call")
