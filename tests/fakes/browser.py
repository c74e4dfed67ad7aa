"""A real browser for page tests: Debian's headless Chromium, driven by Playwright for Python.

Playwright's own browsers are never downloaded: it drives /usr/bin/chromium, in a throwaway
profile, with everything that would reach the network switched off. A test that needs it
is skipped, saying why, when Chromium is not installed.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest
from playwright.sync_api import ConsoleMessage, Page, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists() or shutil.which("chromium") is None,
    reason="needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)",
)

Scheme = Literal["light", "dark"]


@dataclass
class Problems:
    """What went wrong in the page as the browser saw it: console errors and warnings,
    uncaught exceptions, requests that failed (a missing thumbnail, say)."""

    seen: list[str] = field(default_factory=list)

    def console(self, message: ConsoleMessage) -> None:
        if message.type in ("error", "warning"):
            self.seen.append(f"console {message.type}: {message.text}")


@contextmanager
def browser_page(profile: Path) -> Iterator[tuple[Page, Problems]]:
    """A Chromium page (Playwright's `Page`) and the problems it reports, in `profile`."""
    problems = Problems()
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile), executable_path=str(CHROMIUM), headless=True, args=FLAGS
        )
        try:
            page = context.new_page()
            page.on("console", problems.console)
            page.on("pageerror", lambda error: problems.seen.append(f"page error: {error}"))
            page.on("requestfailed", lambda request: problems.seen.append(f"failed: {request.url}"))
            yield page, problems
        finally:
            context.close()


def show(page: Page, url: str, width: int, scheme: Scheme) -> None:
    """Load `url` at `width` CSS pixels in the light or dark scheme."""
    page.set_viewport_size({"width": width, "height": 900})
    page.emulate_media(color_scheme=scheme)
    page.goto(url, wait_until="load")


def screenshot(page: Page, path: Path) -> Path:
    """The whole page, not only the window, as a PNG at `path`."""
    page.screenshot(path=str(path), full_page=True)
    return path
