"""Publisher instances across config reloads: reused while unchanged, closed only when unused."""

from __future__ import annotations

from pathlib import Path

from daemon.config import ApplicationConfig, load_config
from daemon.platforms import ActivePlatforms
from daemon.registry import Registry
from tests.conftest import write_config
from tests.fakes.publishers import RecordingPublisher


class ClosingPublisher(RecordingPublisher):
    """Remembers whether it was closed."""

    platform_name = "closing"
    closed: bool = False

    async def close(self) -> None:
        self.closed = True


def configs(folder: Path, registry: Registry, *labels: str) -> list[ApplicationConfig]:
    loaded = []
    for label in labels:  # one folder, so only the label differs between them
        path = write_config(folder, {"closing": {"enabled": True, "label": label}})
        loaded.append(load_config(path, registry))
    return loaded


def registry_with_closing() -> Registry:
    return Registry({"closing": ClosingPublisher})  # type: ignore[dict-item]


async def test_a_publisher_in_use_is_closed_only_after_its_last_post(tmp_path: Path) -> None:
    """Reused by one reload and replaced by the next, a publisher still held by a post stays open."""
    registry = registry_with_closing()
    first, same, other = configs(tmp_path, registry, "a", "a", "b")
    platforms = ActivePlatforms(registry, first)
    async with platforms.lease() as lease:
        held = lease.publishers["closing"]
        await platforms.apply(same)  # same settings: the instance is reused
        await platforms.apply(other)  # new settings: replaced, but the post still holds it
        assert isinstance(held, ClosingPublisher)
        assert not held.closed
    assert held.closed
    await platforms.aclose()


async def test_unchanged_settings_keep_the_same_publisher(tmp_path: Path) -> None:
    """A reload that leaves a platform's settings alone keeps its instance (and its session)."""
    registry = registry_with_closing()
    first, same = configs(tmp_path, registry, "a", "a")
    platforms = ActivePlatforms(registry, first)
    async with platforms.lease() as before:
        pass
    await platforms.apply(same)
    async with platforms.lease() as after:
        assert after.publishers["closing"] is before.publishers["closing"]
    await platforms.aclose()
