"""The `Publisher` interface every platform implements, and the registry that finds them.

Adding a platform is adding one module to this package (or, for a third party, an entry
point in the `dropcast.publishers` group) with one `Publisher` subclass. The core never
names a platform. A publisher imports its platform's library lazily (inside its methods),
so a disabled platform costs nothing at start-up.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType
from typing import ClassVar, Generic, Literal, TypeVar

from daemon.post import Post
from daemon.settings import PlatformSettings

ENTRY_POINT_GROUP = "dropcast.publishers"
BUILTIN_PACKAGE = "daemon.publishers"


@dataclass(frozen=True)
class PublishResult:
    """What one platform did with one post. Expected failures are results, not exceptions."""

    ok: bool
    remote_id: str | None = None
    url: str | None = None
    error: str | None = None
    attempts: int = 1
    duration_ms: int = 0
    notes: tuple[str, ...] = ()  # what the owner should know, e.g. "image resized to fit"

    @classmethod
    def failure(cls, error: str, *, attempts: int = 1) -> PublishResult:
        return cls(ok=False, error=error, attempts=attempts)


@dataclass(frozen=True)
class PublisherContext:
    """What the core hands every publisher besides its own settings."""

    state_dir: Path


SettingsT = TypeVar("SettingsT", bound=PlatformSettings)


ResendPolicy = Literal["safe", "check", "never"]


class Publisher(ABC, Generic[SettingsT]):
    """One platform. Subclasses set `platform_name` and `settings_model` and implement `publish`.

    `resend_after_unknown` says what to do when dropcast died after sending a post here but
    before the answer came: "safe" (sending again does no harm: send), "check" (ask the
    platform with `find_published`), or "never" (leave it to `dropcast retry`).
    """

    platform_name: ClassVar[str]
    settings_model: ClassVar[type[PlatformSettings]] = PlatformSettings
    resend_after_unknown: ClassVar[ResendPolicy] = "never"

    def __init__(self, settings: SettingsT, context: PublisherContext) -> None:
        self.settings = settings
        self.context = context

    @property
    def is_enabled(self) -> bool:
        return self.settings.enabled

    @abstractmethod
    async def publish(self, post: Post) -> PublishResult:
        """Publish `post`; return a result (raise only for the unexpected)."""

    async def find_published(self, post: Post) -> PublishResult | None:
        """For "check" platforms: the post if the platform already has it, else None."""
        return None

    async def check_connection(self) -> str:
        """Reach the platform as `dropcast check --connect` does; return what was found."""
        return "nothing to check"

    def status(self) -> str | None:
        """A short state worth showing the owner (systemd's STATUS), e.g. "paused until 14:00"."""
        return None

    async def close(self) -> None:
        """Release connections; called on shutdown and when the platform's settings change."""


PublisherClass = type[Publisher[PlatformSettings]]


class RegistryError(Exception):
    """Raised when two publishers claim one `platform_name`, or one cannot be loaded."""


class Registry:
    """The known platforms, by `platform_name`."""

    def __init__(self, publishers: Mapping[str, PublisherClass]) -> None:
        self._publishers = dict(publishers)

    def __contains__(self, name: object) -> bool:
        return name in self._publishers

    def __getitem__(self, name: str) -> PublisherClass:
        return self._publishers[name]

    @property
    def names(self) -> list[str]:
        return sorted(self._publishers)

    @classmethod
    def discover(
        cls,
        packages: Iterable[str] = (BUILTIN_PACKAGE,),
        entry_point_group: str | None = ENTRY_POINT_GROUP,
    ) -> Registry:
        """Find every publisher in `packages` and in the entry-point group."""
        found: dict[str, tuple[PublisherClass, str]] = {}
        for package in packages:
            for module in _modules_of(package):
                for publisher in _publishers_in(module):
                    _register(found, publisher, f"module {module.__name__}")
        if entry_point_group:
            for entry_point in entry_points(group=entry_point_group):
                publisher = _load_entry_point(entry_point.name, entry_point.load)
                _register(found, publisher, f"entry point {entry_point.value}")
        return cls({name: publisher for name, (publisher, _) in found.items()})


def _modules_of(package_name: str) -> list[ModuleType]:
    """The publisher modules of a package (or the one module, if it is a plain module)."""
    package = importlib.import_module(package_name)
    if not hasattr(package, "__path__"):
        return [package]
    names = [
        info.name
        for info in pkgutil.iter_modules(package.__path__)
        if not info.name.startswith(("_", "base"))
    ]
    return [importlib.import_module(f"{package_name}.{name}") for name in sorted(names)]


def _publishers_in(module: ModuleType) -> list[PublisherClass]:
    return [
        value
        for value in vars(module).values()
        if inspect.isclass(value)
        and issubclass(value, Publisher)
        and value.__module__ == module.__name__
        and not inspect.isabstract(value)
    ]


def _load_entry_point(name: str, load: object) -> PublisherClass:
    try:
        value = load()  # type: ignore[operator]
    except Exception as error:
        raise RegistryError(f"entry point {name!r} could not be loaded: {error}") from error
    if not (inspect.isclass(value) and issubclass(value, Publisher)):
        raise RegistryError(f"entry point {name!r} is not a Publisher subclass")
    return value


def _register(
    found: dict[str, tuple[PublisherClass, str]], publisher: PublisherClass, origin: str
) -> None:
    name = getattr(publisher, "platform_name", None)
    if not isinstance(name, str) or not name:
        raise RegistryError(f"{publisher.__name__} in {origin} has no platform_name")
    if name in found:
        raise RegistryError(
            f"two publishers are named {name!r}: {found[name][0].__name__} in {found[name][1]} "
            f"and {publisher.__name__} in {origin}"
        )
    found[name] = (publisher, origin)
