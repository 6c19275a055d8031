"""Real headless Chromium for page tests: Debian's /usr/bin/chromium driven by Playwright.

``page`` (a fixture: import it into a test module or conftest) is a fresh browser context with
a phone-sized or desktop viewport; ``screenshot(page, name)`` keeps a picture of what the test
saw in ``$ISPFLEET_ARTIFACTS`` (default build/screenshots), for CI artifacts and the README.
Tests skip, saying why, only where no Chromium can be installed (deploy/dev-packages.sh).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.helpers import ROOT

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
ARTIFACTS = Path(os.environ.get("ISPFLEET_ARTIFACTS", ROOT / "build" / "screenshots"))


def chromium_missing() -> str | None:
    """Why page tests cannot run here, or None."""
    if not (Path(CHROMIUM).exists() or shutil.which("chromium")):
        return f"no Chromium at {CHROMIUM}: run `sudo sh deploy/dev-packages.sh`"
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        return "playwright is not installed: `pip install -e '.[dev]'`"
    return None


async def open_browser(viewport: dict[str, int]) -> AsyncIterator:
    """A page in a fresh context of a freshly launched Chromium; all closed afterwards."""
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            context = await browser.new_context(viewport=viewport, locale="en-US")
            context.set_default_timeout(15_000)
            yield await context.new_page()
            await context.close()
        finally:
            await browser.close()


@pytest.fixture
async def page() -> AsyncIterator:
    """A desktop-sized page."""
    if reason := chromium_missing():
        pytest.skip(reason)
    async for opened in open_browser(DESKTOP):
        yield opened


@pytest.fixture
async def phone_page() -> AsyncIterator:
    """A phone-sized page (the captive portal's first screen)."""
    if reason := chromium_missing():
        pytest.skip(reason)
    async for opened in open_browser(PHONE):
        yield opened


async def screenshot(page, name: str) -> Path:
    """Save what the page shows now as ``<ARTIFACTS>/<name>.png``."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path
