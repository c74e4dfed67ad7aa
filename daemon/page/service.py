"""The status page's service: writes `<page.folder>/index.html` at start, after what happens
(debounced: at most one write a second, one at a time), and once more when the daemon stops.

The page is read from the ledger through its own read-only connection in a worker thread,
so the event loop never waits on it; a page that cannot be written is logged and tried
again at the next event, never the daemon's trouble.
"""

from __future__ import annotations

import os
from pathlib import Path

import anyio
import structlog

from daemon.config import ApplicationConfig
from daemon.events import Event, InboxWaiting
from daemon.page.render import render_page
from daemon.page.snapshot import read_page
from daemon.secrets import REDACTOR

log = structlog.get_logger("dropcast.page")

PAGE_NAME = "index.html"
MIN_INTERVAL = 1.0  # seconds between two writes: a burst of posts costs a few pages, not one each
FINAL_WRITE_SECONDS = 5.0  # at the daemon's stop, the last page gets this long


def write_page(config: ApplicationConfig, inbox: InboxWaiting | None = None) -> Path:
    """Read what the page shows and replace `<folder>/index.html` with it, atomically. Blocking."""
    folder = config.core.page.folder
    folder.mkdir(parents=True, exist_ok=True)
    text = render_page(read_page(config, inbox))
    page = folder / PAGE_NAME
    temporary = folder / f".{PAGE_NAME}.tmp"
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, page)  # a reader sees the old page or the new one, never half
    return page


class PageService:
    """Keeps the page up to date while the daemon runs (see the module's docstring)."""

    def __init__(self, config: ApplicationConfig, min_interval: float = MIN_INTERVAL) -> None:
        self.config = config
        self.min_interval = min_interval
        self.inbox: InboxWaiting | None = None  # the inbox's last word
        self.writes = 0  # pages written, for tests and benchmarks
        self._due = True  # something happened since the last page
        self._wake: anyio.Event | None = None  # made by `run`: anyio needs a running loop

    def notify(self, event: Event) -> None:
        if isinstance(event, InboxWaiting):
            self.inbox = event
        self._mark_due()

    def apply(self, config: ApplicationConfig) -> None:
        self.config = config
        self._mark_due()

    def _mark_due(self) -> None:
        self._due = True
        if self._wake is not None:
            self._wake.set()

    async def run(self) -> None:
        self._wake = anyio.Event()
        try:
            while True:
                if self._due:
                    await self._write()
                    await anyio.sleep(self.min_interval)
                else:
                    await self._wake.wait()
                    self._wake = anyio.Event()
        finally:
            with anyio.CancelScope(shield=True), anyio.move_on_after(FINAL_WRITE_SECONDS):
                await self._write(final=True)

    async def _write(self, *, final: bool = False) -> None:
        """One page, in a worker thread; the events during it make the next one due."""
        self._due = False
        config = self.config
        if not config.core.page.enabled:
            return
        try:
            await anyio.to_thread.run_sync(write_page, config, self.inbox, abandon_on_cancel=final)
        except Exception as error:  # the page must never cost the daemon anything: next event
            log.error(
                "page.write_failed",
                folder=str(config.core.page.folder),
                error=REDACTOR.redact(str(error)),
            )
        else:
            self.writes += 1
