"""The publishers for the config in force, kept across reloads while their settings stay the same.

A post leases the set of publishers that is current when it starts, and keeps it until it
is done; a publisher that a reload replaced is closed once no post uses it any more.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import structlog

from daemon.config import ApplicationConfig
from daemon.publishers.base import Publisher, PublisherContext, Registry
from daemon.settings import PlatformSettings

log = structlog.get_logger("dropcast.platforms")

AnyPublisher = Publisher[PlatformSettings]


@dataclass
class _Generation:
    config: ApplicationConfig
    publishers: dict[str, AnyPublisher]
    leases: int = 0
    retired_publishers: list[AnyPublisher] = field(default_factory=list)


@dataclass(frozen=True)
class Lease:
    """What one post publishes with: the config and enabled publishers current when it began."""

    config: ApplicationConfig
    publishers: Mapping[str, AnyPublisher]


class ActivePlatforms:
    """Owns every publisher instance; builds, reuses and closes them as the config changes."""

    def __init__(self, registry: Registry, config: ApplicationConfig) -> None:
        self.registry = registry
        self._current = _Generation(config, self._build(config, {}))
        self._retiring: list[_Generation] = []

    @property
    def config(self) -> ApplicationConfig:
        return self._current.config

    async def apply(self, config: ApplicationConfig) -> None:
        """Use `config` for posts that start from now on."""
        previous = self._current
        publishers = self._build(config, previous.publishers)
        kept = set(map(id, publishers.values()))
        previous.retired_publishers = [p for p in previous.publishers.values() if id(p) not in kept]
        self._current = _Generation(config, publishers)
        self._retiring.append(previous)
        await self._close_idle()

    def statuses(self) -> dict[str, str]:
        """What each enabled publisher wants the owner to know, by platform name."""
        found = {name: publisher.status() for name, publisher in self._current.publishers.items()}
        return {name: status for name, status in found.items() if status}

    @asynccontextmanager
    async def lease(self) -> AsyncIterator[Lease]:
        generation = self._current
        generation.leases += 1
        try:
            yield Lease(generation.config, generation.publishers)
        finally:
            generation.leases -= 1
            await self._close_idle()

    async def aclose(self) -> None:
        """Close every publisher: at shutdown, after the last post finished."""
        for generation in [*self._retiring, self._current]:
            await _close_all([*generation.retired_publishers, *generation.publishers.values()])
        self._retiring.clear()

    async def _close_idle(self) -> None:
        idle = [g for g in self._retiring if g.leases == 0]
        self._retiring = [g for g in self._retiring if g.leases > 0]
        for generation in idle:
            await _close_all(generation.retired_publishers)

    def _build(
        self, config: ApplicationConfig, existing: Mapping[str, AnyPublisher]
    ) -> dict[str, AnyPublisher]:
        context = PublisherContext(state_dir=config.core.state)
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
