"""What each chat already got of a post that not every chat got yet.

A post counts as published on Telegram only when every chat got it, so a post that one chat
refused is tried again (by the daemon, or by `dropcast retry`). Without this log the chats
that did get it would get it twice. Kept in `<state>/telegram/deliveries.json`; a post's
entry is dropped as soon as every chat has it. The log guards against duplicates; it is
not worth failing a post over, so a log that cannot be read or written is only logged.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import anyio
import structlog

from daemon.fingerprint import Fingerprint, fingerprint

log = structlog.get_logger("dropcast.telegram")

Entries = dict[str, dict[str, dict[str, Any]]]  # post key -> chat -> progress

# One lock per file for the whole process: a reload may leave two publishers on one log.
_LOCKS: dict[Path, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


@dataclass(frozen=True)
class Progress:
    """How far one chat got: the message that carries the image, and the steps sent so far.

    Step 0 is the image with the first piece of the caption; each further step is one text
    message with the next piece.
    """

    message_id: int
    steps_done: int
    url: str | None = None


def post_key(image_digests: Sequence[bytes], caption: str, parse_mode: str | None) -> str:
    """A fingerprint of what a chat gets: the images' SHA-256 digests, the caption, its mode."""
    digest = hashlib.sha256(f"{parse_mode}\0{caption}\0".encode())
    for image_digest in image_digests:
        digest.update(image_digest)
    return digest.hexdigest()


class DeliveryLog:
    """The progress of every chat on every post that is not yet fully delivered."""

    def __init__(self, path: Path) -> None:
        self.path = path
        with _LOCKS_GUARD:
            self._lock = _LOCKS.setdefault(path, threading.Lock())
        # The entries as this log last read or wrote them, and the file's fingerprint then:
        # the file is parsed again only if someone else replaced it since.
        self._cached: tuple[Fingerprint, Entries] | None = None

    async def progress(self, key: str, chat: str) -> Progress | None:
        return (await anyio.to_thread.run_sync(self.progress_now, key, (chat,)))[chat]

    def progress_now(self, key: str, chats: tuple[str, ...]) -> dict[str, Progress | None]:
        """How far each chat got with the post `key` (blocking: it may read the file)."""
        entries = self._locked(lambda entries: False).get(key, {})
        return {chat: _progress(entries.get(chat)) for chat in chats}

    async def save(self, key: str, chat: str, progress: Progress) -> None:
        def change(entries: Entries) -> bool:
            entries.setdefault(key, {})[chat] = asdict(progress)
            return True

        await anyio.to_thread.run_sync(self._locked, change)

    async def forget(self, key: str) -> None:
        """Drop a post's entry: every chat has it."""
        await anyio.to_thread.run_sync(
            self._locked, lambda entries: entries.pop(key, None) is not None
        )

    def _locked(self, change: Callable[[Entries], bool]) -> Entries:
        """Read the log, apply `change`, and write it back if `change` says it changed."""
        with self._lock:
            entries = self._read()
            if change(entries):
                self._write(entries)
            return entries

    def _read(self) -> Entries:
        now = fingerprint(self.path)
        if self._cached is not None and self._cached[0] == now:
            return self._cached[1]
        self._cached = None
        try:
            entries = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            entries = {}
        except (OSError, ValueError) as error:
            log.warning("deliveries.unreadable", path=str(self.path), error=str(error))
            return {}
        entries = entries if isinstance(entries, dict) else {}
        self._cached = (now, entries)
        return entries

    def _write(self, entries: Entries) -> None:
        self._cached = None  # until the file holds `entries`
        temporary = self.path.with_name(f".{self.path.name}.tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            temporary.write_text(json.dumps(entries), encoding="utf-8")
            os.replace(temporary, self.path)
        except OSError as error:
            log.warning("deliveries.unwritable", path=str(self.path), error=str(error))
            return
        self._cached = (fingerprint(self.path), entries)


def _progress(entry: dict[str, Any] | None) -> Progress | None:
    try:
        return None if entry is None else Progress(**entry)
    except TypeError:  # an entry this version does not understand: start over
        return None
