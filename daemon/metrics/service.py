"""Metrics: Prometheus text on `metrics.listen`, off by default.

prometheus_client is imported only once metrics are switched on: a daemon without them
pays nothing. A reload that changes `listen` moves the server to the new address (the counts
carry on); one that removes it stops the server. A port that cannot be had is logged and
tried again at the next reload; publishing never waits for any of it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio
import structlog

from daemon.config import ApplicationConfig
from daemon.events import Event
from daemon.metrics.settings import ListenAddress

if TYPE_CHECKING:
    from daemon.metrics.families import DropcastMetrics

log = structlog.get_logger("dropcast.metrics")


class MetricsService:
    """Counts what happened and serves it while `metrics.listen` is set."""

    def __init__(self, config: ApplicationConfig) -> None:
        self._metrics: DropcastMetrics | None = None
        self._listen: ListenAddress | None = None
        self._serving = False
        self._changed: anyio.Event | None = None  # made by `run`: it needs the event loop
        self.apply(config)

    def notify(self, event: Event) -> None:
        if self._metrics is not None:
            self._metrics.observe(event)

    def apply(self, config: ApplicationConfig) -> None:
        listen = config.core.metrics.listen
        if listen is not None:
            self._counting().expect(config.enabled_platforms)
        # A port that could not be had is tried again at the next reload, changed or not.
        if listen != self._listen or (listen is not None and not self._serving):
            self._listen = listen
            if self._changed is not None:
                self._changed.set()

    async def run(self) -> None:
        while True:
            self._changed = changed = anyio.Event()
            if self._listen is None:
                await changed.wait()
            else:
                await self._serve(self._listen, changed)

    def _counting(self) -> DropcastMetrics:
        if self._metrics is None:
            from daemon.metrics.families import DropcastMetrics

            self._metrics = DropcastMetrics()
        return self._metrics

    async def _serve(self, address: ListenAddress, changed: anyio.Event) -> None:
        """Serve on `address` until the config changes (or the daemon stops)."""
        from daemon.metrics.server import MetricsServer

        if not address.is_loopback:
            log.warning(
                "metrics.not_loopback",
                address=str(address),
                detail="anyone who can reach this address can read the metrics",
            )
        try:
            server = await MetricsServer.start(address, self._counting().registry)
        except OSError as error:
            log.error(
                "metrics.listen_failed",
                address=str(address),
                error=error.strerror or str(error),
                detail="publishing goes on; free the port or change metrics.listen",
            )
            await changed.wait()
            return
        self._serving = True
        log.info("metrics.listening", address=str(address), url=f"http://{address}/metrics")
        try:
            await changed.wait()
        finally:
            self._serving = False
            await server.stop()
            log.info("metrics.stopped", address=str(address))
