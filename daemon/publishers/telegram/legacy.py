"""What each chat got of a post, as dropcast before schema 2 kept it: `deliveries.json`.

Since then each chat's parts are destinations in the ledger. A file an earlier dropcast
left is read once: a post's entry moves into the ledger the first time that post is
published again (found by the same key the file used), and only once the ledger has it is
it dropped from the file; the file goes once it is empty. It guards against duplicates, so a file that cannot be read or
written is only logged.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import structlog

from daemon.progress import Destination, DestinationState

log = structlog.get_logger("dropcast.telegram")

Entries = dict[str, dict[str, dict[str, Any]]]  # post key -> chat -> progress

# One lock for the whole process: a reload may leave two publishers on one file.
_LOCK = threading.Lock()


def post_key(image_digests: Sequence[bytes], caption: str, parse_mode: str | None) -> str:
    """The file's key for a post: the images' SHA-256 digests, the caption, its mode."""
    digest = hashlib.sha256(f"{parse_mode}\0{caption}\0".encode())
    for image_digest in image_digests:
        digest.update(image_digest)
    return digest.hexdigest()


class LegacyDeliveries:
    """The entries of an old `deliveries.json`, handed over one post at a time."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._gone = not path.exists()  # checked once: no dropcast writes this file any more

    def peek(self, key: str) -> list[Destination]:
        """The post `key`'s chats' parts as destinations (blocking: it may read the file)."""
        if self._gone:
            return []
        with _LOCK:
            entry = self._read().get(key)
        return [] if entry is None else _destinations(entry)

    def forget(self, key: str) -> None:
        """Drop the post `key` from the file: the ledger has its parts now (blocking)."""
        if self._gone:
            return
        with _LOCK:
            entries = self._read()
            if entries.pop(key, None) is not None:
                self._write(entries)

    def _read(self) -> Entries:
        try:
            entries = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            self._gone = True
            return {}
        except (OSError, ValueError) as error:
            log.warning("deliveries.unreadable", path=str(self.path), error=str(error))
            return {}
        return entries if isinstance(entries, dict) else {}

    def _write(self, entries: Entries) -> None:
        try:
            if not entries:
                self.path.unlink()
                self._gone = True
                log.info("deliveries.migrated", path=str(self.path))
                return
            temporary = self.path.with_name(f".{self.path.name}.tmp")
            temporary.write_text(json.dumps(entries), encoding="utf-8")
            os.replace(temporary, self.path)
        except OSError as error:
            log.warning("deliveries.unwritable", path=str(self.path), error=str(error))


def _destinations(entry: dict[str, Any]) -> list[Destination]:
    """A chat's `{message_id, steps_done, url}` as its parts `chat#0` … `chat#steps_done-1`."""
    found = []
    for chat, progress in entry.items():
        try:
            message_id, steps_done = int(progress["message_id"]), int(progress["steps_done"])
        except (KeyError, TypeError, ValueError):  # not understood: that chat starts over
            continue
        url = progress.get("url")
        found.append(Destination(f"{chat}#0", DestinationState.SENT, str(message_id), url))
        found += [Destination(f"{chat}#{s}", DestinationState.SENT) for s in range(1, steps_done)]
    return found
