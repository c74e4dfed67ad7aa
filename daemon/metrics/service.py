"""Placeholder until built."""

from __future__ import annotations

import anyio

from daemon.config import ApplicationConfig
from daemon.events import Event


class MetricsService:
    def __init__(self, config: ApplicationConfig) -> None:
        self.config = config

    def notify(self, event: Event) -> None:
        pass

    def apply(self, config: ApplicationConfig) -> None:
        self.config = config

    async def run(self) -> None:
        await anyio.sleep_forever()
