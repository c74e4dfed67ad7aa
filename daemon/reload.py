"""Re-reading `config.yaml` while running: cheap when nothing changed, harmless when it is bad."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Mapping
from pathlib import Path

import anyio
import anyio.to_thread
import structlog

from daemon.config import ApplicationConfig, ConfigError, load_config
from daemon.fingerprint import Fingerprint, fingerprint
from daemon.inbox import MTIME_CREDIT_SECONDS
from daemon.registry import Registry
from daemon.secrets import REDACTOR

log = structlog.get_logger("dropcast.config")


# A config written in place counts as complete once it has been still this long, or the
# core's `settle_seconds` if that is longer: a writer that pauses (scp, a slow share) would
# pause as long for a post. The floor covers `settle_seconds: 0`, which says how posts are
# dropped (by rename), not how the config is edited.
MIN_SETTLE_SECONDS = 0.5
# How long a reload on request (SIGHUP) waits for a config that is still being written.
FORCED_WAIT_SECONDS = 30.0


class ConfigReloader:
    """Holds the last good config and replaces it when the file changes, is complete and valid.

    A file renamed over the config (a new inode whose ctime is past its mtime) is complete
    at once; any other is complete once unchanged for the settle time, so a half-written
    file is never read.
    """

    def __init__(
        self, path: Path, registry: Registry, environ: Mapping[str, str] | None = None
    ) -> None:
        self.path = path.absolute()
        self.registry = registry
        self.environ = environ
        self._read = fingerprint(self.path)  # the file as it was when last read (or missing)
        self._seen, self._seen_since, self._renamed = self._read, 0.0, False
        self._forced = False
        self._broken = False  # the file was missing or invalid when last read
        self._lock = anyio.Lock()
        self.due_at = math.inf  # when a file still settling is worth looking at again
        self.current = self._load()
        REDACTOR.replace_secrets(self.current.secrets)

    async def reload_if_changed(self, *, force: bool = False) -> ApplicationConfig | None:
        """Return the new config if the file changed, is complete and valid; else keep the old one.

        `force` reads the file even if it did not change (its `${file:...}` may have), as
        soon as it is complete. The file is parsed in a worker thread, one look at a time.
        """
        self._forced = self._forced or force
        async with self._lock:
            now = fingerprint(self.path)
            if now == self._read and not self._forced:
                self.due_at = math.inf
                return None
            if now is not None and now != self._read and not self._complete(now):
                return None
            self._read, self._forced, self.due_at = now, False, math.inf
            if now is None:
                self._seen, self._broken = None, True
                log.error("config.missing", path=str(self.path), kept="the last good config")
                return None
            return await self._read_changed(now)

    async def _read_changed(self, now: Fingerprint) -> ApplicationConfig | None:
        try:
            config = await anyio.to_thread.run_sync(self._load)
        except ConfigError as error:
            self._broken = True
            log.error(
                "config.invalid", path=str(self.path), error=str(error), kept="the last good config"
            )
            return None
        if fingerprint(self.path) != now:  # written again while parsed: the next look reads it
            return None
        self._replace(config)
        if self._broken:
            self._broken = False
            log.info("config.valid_again", path=str(self.path), detail="the new config is in force")
        return config

    async def reload_when_complete(self) -> ApplicationConfig | None:
        """As on SIGHUP: read the file even if unchanged, once it is complete.

        A file still being written is waited for, up to `FORCED_WAIT_SECONDS`; after that
        the daemon's next look at it reads it once it is complete.
        """
        config = await self.reload_if_changed(force=True)
        deadline = anyio.current_time() + FORCED_WAIT_SECONDS
        while config is None and self.due_at <= deadline:
            await anyio.sleep_until(self.due_at)
            config = await self.reload_if_changed()
        return config

    def _complete(self, now: tuple[int, int, int]) -> bool:
        """Whether the changed file is complete; if not, `due_at` says when to look again."""
        clock = anyio.current_time()
        if now != self._seen:
            # A new inode is complete at once only if it was renamed into place; a file
            # created while the old existed (vim renames the old to a backup) or while it
            # was missing may still be being written under its own name.
            replaced = self._seen is not None and now[2] != self._seen[2]
            self._renamed = replaced and _arrived_by_rename(self.path, now)
            age = max(0.0, (time.time_ns() - now[1]) / 1e9)
            self._seen, self._seen_since = now, clock - min(age, MTIME_CREDIT_SECONDS)
            if not self._renamed:
                log.info("config.settling", path=str(self.path), seconds=self._settle_seconds)
        ready = -math.inf if self._renamed else self._seen_since + self._settle_seconds
        self.due_at = ready
        return clock >= ready

    @property
    def _settle_seconds(self) -> float:
        return max(self.current.core.settle_seconds, MIN_SETTLE_SECONDS)

    def _replace(self, config: ApplicationConfig) -> None:
        # Old secrets stay hidden too: a post still in flight may use them.
        REDACTOR.add_secrets(config.secrets)
        log.info(
            "config.reloaded", path=str(self.path), changed=describe_changes(self.current, config)
        )
        stopped = sorted(set(self.current.enabled_platforms) - set(config.enabled_platforms))
        if stopped:
            log.warning(
                "config.platforms_stopped",
                path=str(self.path),
                platforms=stopped,
                detail="removed or disabled: posts from now on are not sent to them",
            )
        self.current = config

    def _load(self) -> ApplicationConfig:
        return load_config(self.path, self.registry, self.environ)


def _arrived_by_rename(path: Path, now: tuple[int, int, int]) -> bool:
    """Whether the file was renamed after its last write: a rename changes ctime, not mtime.

    A write and a rename within one tick of the file system's clock look like a plain
    write, so such a file settles: later, never half-read.
    """
    try:
        info = os.stat(path)
    except OSError:
        return False
    if (info.st_size, info.st_mtime_ns, info.st_ino) != now:  # written again since: it settles
        return False
    return info.st_ctime_ns > info.st_mtime_ns


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
