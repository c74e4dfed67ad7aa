"""Re-reading `config.yaml` while running: cheap when nothing changed, harmless when it is bad."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import structlog

from daemon.config import ApplicationConfig, ConfigError, load_config
from daemon.fingerprint import fingerprint
from daemon.publishers.base import Registry
from daemon.secrets import REDACTOR

log = structlog.get_logger("dropcast.config")


class ConfigReloader:
    """Holds the last good config and replaces it when the file changes and is valid."""

    def __init__(
        self, path: Path, registry: Registry, environ: Mapping[str, str] | None = None
    ) -> None:
        self.path = path.absolute()
        self.registry = registry
        self.environ = environ
        self._fingerprint = fingerprint(self.path)
        self.current = self._load()
        REDACTOR.replace_secrets(self.current.secrets)

    def reload_if_changed(self, *, force: bool = False) -> ApplicationConfig | None:
        """Return the new config if the file changed and is valid; else keep the old one."""
        now = fingerprint(self.path)
        if now == self._fingerprint and not force:
            return None
        self._fingerprint = now
        if now is None:
            log.error("config.missing", path=str(self.path), kept="the last good config")
            return None
        try:
            config = self._load()
        except ConfigError as error:
            log.error(
                "config.invalid", path=str(self.path), error=str(error), kept="the last good config"
            )
            return None
        # Old secrets stay hidden too: a post still in flight may use them.
        REDACTOR.add_secrets(config.secrets)
        log.info(
            "config.reloaded", path=str(self.path), changed=describe_changes(self.current, config)
        )
        self.current = config
        return config

    def _load(self) -> ApplicationConfig:
        return load_config(self.path, self.registry, self.environ)


def describe_changes(old: ApplicationConfig, new: ApplicationConfig) -> list[str]:
    """The dotted keys whose values differ, never the values (they may be secrets)."""
    changed = _changed_keys("", old.core.model_dump(), new.core.model_dump())
    for name in sorted(old.platforms.keys() | new.platforms.keys()):
        before, after = old.platforms.get(name), new.platforms.get(name)
        if before is None or after is None:
            changed.append(f"platforms.{name} {'added' if before is None else 'removed'}")
        elif before.enabled != after.enabled:
            changed.append(f"platforms.{name} {'enabled' if after.enabled else 'disabled'}")
        else:
            changed += _changed_keys(f"platforms.{name}.", before.model_dump(), after.model_dump())
    return changed


def _changed_keys(prefix: str, before: dict[str, object], after: dict[str, object]) -> list[str]:
    return [
        f"{prefix}{key}"
        for key in sorted(before.keys() | after.keys())
        if before.get(key) != after.get(key)
    ]
