"""The `Publisher` interface every platform implements, and the registry that finds them.

Adding a platform is adding one module to this package (or, for a third party, an entry
point in the `dropcast.publishers` group) with one `Publisher` subclass. The core never
names a platform. A built-in platform's module is imported only when the platform is
enabled, and a publisher imports its platform's library lazily (inside its methods), so a
disabled platform costs nothing.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType
from typing import ClassVar, Generic, Literal, TypeVar

from daemon.post import Post
from daemon.progress import MemoryProgress, ProgressStore
from daemon.settings import PlatformSettings

ENTRY_POINT_GROUP = "dropcast.publishers"
BUILTIN_PACKAGE = "daemon.publishers"


AttemptOutcome = Literal["sent", "refused", "unknown"]


@dataclass(frozen=True)
class PublishResult:
    """What one platform did with one post. Expected failures are results, not exceptions.

    Every attempt ends in one of three ways (`outcome`): `sent` (the platform confirmed),
    `refused` (it answered no: safe to try again later), or `unknown` (the request may have
    reached the platform and no answer came: it is never sent again blindly).
    """

    ok: bool
    remote_id: str | None = None
    url: str | None = None
    error: str | None = None
    attempts: int = 1
    duration_ms: int = 0
    notes: tuple[str, ...] = ()  # what the owner should know, e.g. "image resized to fit"
    unknown: bool = False  # not ok, and it may have reached the platform all the same

    @property
    def outcome(self) -> AttemptOutcome:
        return "sent" if self.ok else "unknown" if self.unknown else "refused"

    @classmethod
    def failure(cls, error: str, *, attempts: int = 1) -> PublishResult:
        """The platform refused (or was never reached): safe to try again later."""
        return cls(ok=False, error=error, attempts=attempts)

    @classmethod
    def lost(cls, error: str, *, attempts: int = 1) -> PublishResult:
        """No answer came after the request may have reached the platform."""
        return cls(ok=False, error=error, attempts=attempts, unknown=True)


@dataclass(frozen=True)
class PublisherContext:
    """What the core hands every publisher besides its own settings."""

    state_dir: Path
    # Which destinations already have each post (the daemon's is kept in the ledger).
    progress: ProgressStore = field(default_factory=MemoryProgress, compare=False)


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
    # True if `publish` marks each destination `sending` right before its first byte (see
    # `daemon.progress`): then a crash before any such mark sent nothing, and the delivery
    # is simply tried again, where otherwise it would be unknown.
    tracks_destinations: ClassVar[bool] = False

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
    """The known platforms, by `platform_name`.

    A built-in platform is imported only when first asked for (for its settings model, or to
    publish), so a disabled one costs no memory: its module, its settings model and its
    helpers stay unloaded. Its `platform_name` is its module's name.
    """

    def __init__(
        self, publishers: Mapping[str, PublisherClass], builtins: Iterable[str] = ()
    ) -> None:
        self._publishers = dict(publishers)
        self._builtins = set(builtins) - self._publishers.keys()  # not imported yet

    def __contains__(self, name: object) -> bool:
        return name in self._publishers or name in self._builtins

    def __getitem__(self, name: str) -> PublisherClass:
        if name in self._builtins:
            self._publishers[name] = _load_builtin(name)
            self._builtins.discard(name)
        return self._publishers[name]

    @property
    def names(self) -> list[str]:
        return sorted({*self._publishers, *self._builtins})

    @classmethod
    def discover(
        cls,
        packages: Iterable[str] = (BUILTIN_PACKAGE,),
        entry_point_group: str | None = ENTRY_POINT_GROUP,
    ) -> Registry:
        """Find every publisher in `packages` and in the entry-point group."""
        found: dict[str, tuple[PublisherClass | None, str]] = {}  # None: a built-in, not loaded
        for package in packages:
            if package == BUILTIN_PACKAGE:
                for name in _module_names(importlib.import_module(BUILTIN_PACKAGE)):
                    _register(found, name, None, f"module {BUILTIN_PACKAGE}.{name}")
                continue
            for module in _modules_of(package):
                for publisher in _publishers_in(module):
                    _register(found, _name_of(publisher, module.__name__), publisher,
                              f"module {module.__name__}")  # fmt: skip
        if entry_point_group:
            for entry_point in entry_points(group=entry_point_group):
                publisher = _load_entry_point(entry_point.name, entry_point.load)
                origin = f"entry point {entry_point.value}"
                _register(found, _name_of(publisher, origin), publisher, origin)
        loaded = {name: publisher for name, (publisher, _) in found.items() if publisher}
        return cls(
            loaded, builtins=[name for name, (publisher, _) in found.items() if not publisher]
        )


def _load_builtin(name: str) -> PublisherClass:
    try:
        module = importlib.import_module(f"{BUILTIN_PACKAGE}.{name}")
    except Exception as error:  # a broken install: say which platform, not only which module
        raise RegistryError(f"platform {name!r} could not be loaded: {error}") from error
    publishers = [p for p in _publishers_in(module) if getattr(p, "platform_name", None) == name]
    if len(publishers) != 1:
        raise RegistryError(f"module {module.__name__} must hold one publisher named {name!r}")
    return publishers[0]


def _modules_of(package_name: str) -> list[ModuleType]:
    """The publisher modules of a package (or the one module, if it is a plain module)."""
    package = importlib.import_module(package_name)
    if not hasattr(package, "__path__"):
        return [package]
    return [importlib.import_module(f"{package_name}.{name}") for name in _module_names(package)]


def _module_names(package: ModuleType) -> list[str]:
    """The names of a package's publisher modules (not `base`, not `_private`), unimported."""
    return sorted(
        info.name
        for info in pkgutil.iter_modules(package.__path__)
        if not info.name.startswith(("_", "base"))
    )


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


def _name_of(publisher: PublisherClass, origin: str) -> str:
    name = getattr(publisher, "platform_name", None)
    if not isinstance(name, str) or not name:
        raise RegistryError(f"{publisher.__name__} in {origin} has no platform_name")
    return name


def _register(
    found: dict[str, tuple[PublisherClass | None, str]],
    name: str,
    publisher: PublisherClass | None,
    origin: str,
) -> None:
    if name in found:
        earlier, earlier_origin = found[name]
        raise RegistryError(
            f"two publishers are named {name!r}: {_class_name(earlier, name)} in "
            f"{earlier_origin} and {_class_name(publisher, name)} in {origin}"
        )
    found[name] = (publisher, origin)


def _class_name(publisher: PublisherClass | None, name: str) -> str:
    return (publisher or _load_builtin(name)).__name__
