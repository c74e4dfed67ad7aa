"""The publishers for the config in force, kept across reloads while their settings stay the same.

A post leases the publishers that are current when it starts and keeps them until it is
done. A publisher that a reload replaced is closed once no post holds it any more.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass

import structlog

from daemon.config import ApplicationConfig
from daemon.progress import MemoryProgress, ProgressStore
from daemon.publisher import AnyPublisher, PublisherContext
from daemon.registry import Registry

log = structlog.get_logger("dropcast.platforms")


@dataclass(frozen=True)
class Lease:
    """What one post publishes with: the config and enabled publishers current when it began."""

    config: ApplicationConfig
    publishers: Mapping[str, AnyPublisher]


class ActivePlatforms:
    """Owns every publisher instance; builds, reuses and closes them as the config changes."""

    def __init__(
        self, registry: Registry, config: ApplicationConfig, progress: ProgressStore | None = None
    ) -> None:
        self.registry = registry
        self.progress = progress or MemoryProgress()
        self._config = config
        self._publishers = self._build(config, {})
        self._held: Counter[int] = Counter()  # leases on each publisher, by id()
        self._retired: list[AnyPublisher] = []  # replaced by a reload, maybe still held

    @property
    def config(self) -> ApplicationConfig:
        return self._config

    async def apply(self, config: ApplicationConfig) -> None:
        """Use `config` for posts that start from now on."""
        publishers = self._build(config, self._publishers)
        kept = {id(publisher) for publisher in publishers.values()}
        self._retired += [p for p in self._publishers.values() if id(p) not in kept]
        self._config, self._publishers = config, publishers
        await self._close_idle()

    def statuses(self) -> dict[str, str]:
        """What each enabled publisher wants the owner to know, by platform name."""
        found = {name: publisher.status() for name, publisher in self._publishers.items()}
        return {name: status for name, status in found.items() if status}

    @asynccontextmanager
    async def lease(self) -> AsyncIterator[Lease]:
        publishers = dict(self._publishers)
        self._held.update(id(publisher) for publisher in publishers.values())
        try:
            yield Lease(self._config, publishers)
        finally:
            self._held.subtract(id(publisher) for publisher in publishers.values())
            await self._close_idle()

    async def aclose(self) -> None:
        """Close every publisher: at shutdown, after the last post finished."""
        everything, self._retired = [*self._retired, *self._publishers.values()], []
        await _close_all(everything)

    async def _close_idle(self) -> None:
        idle = [p for p in self._retired if self._held[id(p)] <= 0]
        self._retired = [p for p in self._retired if self._held[id(p)] > 0]
        await _close_all(idle)

    def _build(
        self, config: ApplicationConfig, existing: Mapping[str, AnyPublisher]
    ) -> dict[str, AnyPublisher]:
        context = PublisherContext(state_dir=config.core.state, progress=self.progress)
        publishers = {}
        for name, settings in config.platforms.items():
            if not settings.enabled:
                continue
            reused = existing.get(name)
            if reused is not None and reused.settings == settings and reused.context == context:
                publishers[name] = reused
            else:
                publishers[name] = self.registry[name](settings, context)
        return publishers


async def _close_all(publishers: list[AnyPublisher]) -> None:
    for publisher in publishers:
        try:
            await publisher.close()
        except Exception:  # closing is best effort; the process carries on
            log.exception("platform.close_failed", platform=publisher.platform_name)
