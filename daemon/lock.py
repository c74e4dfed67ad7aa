"""One dropcast per inbox: an exclusive lock on a hidden file in the inbox."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType

LOCK_NAME = ".dropcast.lock"  # hidden, so the inbox scan never reads it


class InboxLockedError(Exception):
    """Raised when another dropcast already runs on this inbox."""


class InboxLock:
    """Held for as long as the daemon runs; the kernel drops it if the process dies."""

    def __init__(self, inbox: Path) -> None:
        self.path = inbox / LOCK_NAME
        self._descriptor: int | None = None

    def __enter__(self) -> InboxLock:
        descriptor = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(descriptor, 64, 0).decode(errors="replace").strip() or "unknown"
            os.close(descriptor)
            raise InboxLockedError(
                f"another dropcast (pid {holder}) is already running on {self.path.parent} "
                f"(it holds the lock {self.path})"
            ) from None
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, f"{os.getpid()}\n".encode(), 0)
        self._descriptor = descriptor
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._descriptor is not None:
            os.close(self._descriptor)
            self._descriptor = None
