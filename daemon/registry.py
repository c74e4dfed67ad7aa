"""Finding the platforms: the built-ins in `daemon/publishers/` and third parties' entry points.

A built-in platform is a module (`preview.py`) or a package (`telegram/`, whose `__init__`
exports its `Publisher`) in `daemon.publishers`; its `platform_name` is that module's name.
A third party adds an entry point in the `dropcast.publishers` group naming its `Publisher`
subclass. A built-in is imported only when first asked for, so a disabled one costs no
memory. Two publishers with one name are an error, never a silent override.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Iterable, Mapping
from importlib.metadata import entry_points
from types import ModuleType

from daemon.publisher import Publisher, PublisherClass

ENTRY_POINT_GROUP = "dropcast.publishers"
BUILTIN_PACKAGE = "daemon.publishers"


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
    """The names of a package's publisher modules and packages (not `_private`), unimported."""
    return sorted(
        info.name
        for info in pkgutil.iter_modules(package.__path__)
        if not info.name.startswith("_")
    )


def _publishers_in(module: ModuleType) -> list[PublisherClass]:
    """The publishers a module defines, or a package's `__init__` exports from its modules."""
    return [
        value
        for value in vars(module).values()
        if inspect.isclass(value)
        and issubclass(value, Publisher)
        and _defined_in(value, module)
        and not inspect.isabstract(value)
    ]


def _defined_in(publisher: PublisherClass, module: ModuleType) -> bool:
    if publisher.__module__ == module.__name__:
        return True
    is_package = hasattr(module, "__path__")
    return is_package and publisher.__module__.startswith(module.__name__ + ".")


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
