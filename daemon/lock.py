"""One dropcast per inbox and per state folder: exclusive locks, held for the process's life.

The inbox lock is a hidden file in the inbox. The state lock is on the state folder itself,
which holds the ledger: a lock *file* can be deleted while held, and a second dropcast would
then lock a new one; the folder cannot go without the ledger going with it. The holder's pid
is written to `state/dropcast.lock` so that a refused dropcast can name it. The kernel drops
both locks when the process dies, however it dies.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType

LOCK_NAME = ".dropcast.lock"  # hidden, so the inbox scan never reads it
STATE_LOCK_NAME = "dropcast.lock"  # in the state folder, beside dropcast.db
RETRY_LOCK_NAME = "retry.lock"
_PROC_LOCKS = Path("/proc/locks")


class InboxLockedError(Exception):
    """Raised when another dropcast already runs on this inbox (or with this state folder)."""


class StateLockedError(InboxLockedError):
    """Raised when another dropcast already runs with this state folder (and so this ledger)."""


class LockLostError(InboxLockedError):
    """Raised when a lock held was taken by another dropcast, or its folder was replaced."""


class InboxLock:
    """Held on `inbox/.dropcast.lock` for as long as the daemon runs."""

    def __init__(self, inbox: Path) -> None:
        self.path = inbox / LOCK_NAME
        self._descriptor: int | None = None

    def __enter__(self) -> InboxLock:
        self._descriptor = self._take()
        return self

    def _take(self) -> int:
        for _ in range(3):  # replaced between open and lock: lock the file now at the path
            descriptor = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            if not _try_lock(descriptor):
                holder = _holder(descriptor, os.pread(descriptor, 64, 0).decode(errors="replace"))
                os.close(descriptor)
                raise self._busy(holder)
            if _is_at(descriptor, self.path):
                os.ftruncate(descriptor, 0)
                os.pwrite(descriptor, f"{os.getpid()}\n".encode(), 0)
                return descriptor
            os.close(descriptor)
        raise InboxLockedError(f"{self.path} keeps being replaced: cannot lock it")

    def _busy(self, holder: str) -> InboxLockedError:
        return InboxLockedError(
            f"another dropcast (pid {holder}) is already running on {self.path.parent} "
            f"(it holds the lock {self.path})"
        )

    def repair(self) -> str | None:
        """Make the lock file again if it was deleted or replaced; say so, or None if intact.

        Raises `LockLostError` if another dropcast locked the new file first.
        """
        if self._descriptor is None or _is_at(self._descriptor, self.path):
            return None
        try:
            descriptor = self._take()
        except InboxLockedError as error:
            raise LockLostError(f"{self.path} was deleted while dropcast ran: {error}") from None
        except OSError as error:
            return f"{self.path} was deleted and cannot be made again: {error.strerror}"
        os.close(self._descriptor)
        self._descriptor = descriptor
        return f"{self.path} was deleted or replaced while dropcast ran: made it again"

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._descriptor is not None:
            os.close(self._descriptor)
            self._descriptor = None


class RetryLock(InboxLock):
    """Held by `dropcast retry`: one at a time sends the archived posts (the daemon never does)."""

    def __init__(self, state: Path) -> None:
        super().__init__(state)
        self.path = state / RETRY_LOCK_NAME

    def _busy(self, holder: str) -> InboxLockedError:
        return StateLockedError(
            f"another dropcast retry (pid {holder}) is running with the state folder "
            f"{self.path.parent} (it holds the lock {self.path}): wait for it to finish"
        )


class StateLock:
    """Held on the state folder for as long as dropcast runs; `state/dropcast.lock` names it."""

    def __init__(self, state: Path) -> None:
        self.folder = state
        self.pid_path = state / STATE_LOCK_NAME
        self._descriptor: int | None = None

    def __enter__(self) -> StateLock:
        for _ in range(3):  # replaced between open and lock: lock the folder now at the path
            descriptor = os.open(self.folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            self._lock_or_raise(descriptor)
            if _is_at(descriptor, self.folder):
                self._descriptor = descriptor
                self._write_pid()
                return self
            os.close(descriptor)
        raise StateLockedError(f"{self.folder} keeps being replaced: cannot lock it")

    def _lock_or_raise(self, descriptor: int) -> None:
        try:
            if _try_lock(descriptor):
                return
            holder = _holder(descriptor, _read(self.pid_path))
        except OSError as error:  # a file system without locks: two daemons could not be told apart
            os.close(descriptor)
            raise StateLockedError(
                f"{self.folder}: cannot lock the state folder ({error.strerror}); "
                "it must be on a local file system"
            ) from None
        os.close(descriptor)
        raise StateLockedError(
            f"another dropcast (pid {holder}) is already running with the state folder "
            f"{self.folder} (it holds the lock on that folder, named in {self.pid_path})"
        )

    def _write_pid(self) -> None:
        temporary = self.pid_path.with_name(f".{self.pid_path.name}.tmp")
        temporary.write_text(f"{os.getpid()}\n", encoding="utf-8")
        os.replace(temporary, self.pid_path)  # never half-written for a reader

    def repair(self) -> str | None:
        """Write `state/dropcast.lock` again if it was deleted or changed; None if intact.

        Raises `LockLostError` if the state folder itself was moved or replaced: the ledger
        this dropcast writes is no longer the one a new dropcast would find.
        """
        if self._descriptor is None:
            return None
        if not _is_at(self._descriptor, self.folder):
            raise LockLostError(
                f"the state folder {self.folder} was moved or replaced while dropcast ran: "
                "its ledger is no longer there; stopping (start dropcast again)"
            )
        if _read(self.pid_path) == str(os.getpid()):
            return None
        try:
            self._write_pid()
        except OSError as error:
            return f"{self.pid_path} was deleted and cannot be written again: {error.strerror}"
        return f"{self.pid_path} was deleted or changed while dropcast ran: wrote it again"

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._descriptor is not None:
            # Removed while still locked: a dropcast that then starts finds no stale pid. Only
            # our own: after a lock was lost, the file may name the dropcast that took over.
            if _read(self.pid_path) == str(os.getpid()):
                self.pid_path.unlink(missing_ok=True)
            os.close(self._descriptor)
            self._descriptor = None


def _try_lock(descriptor: int) -> bool:
    """Lock `descriptor` exclusively; False if another process holds it."""
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _is_at(descriptor: int, path: Path) -> bool:
    """Whether `path` is still the file or folder open as `descriptor` (not deleted, replaced)."""
    held = os.fstat(descriptor)
    try:
        found = os.stat(path)
    except FileNotFoundError:
        return False
    return (found.st_dev, found.st_ino) == (held.st_dev, held.st_ino)


def _holder(descriptor: int, recorded: str) -> str:
    """The pid holding the lock on `descriptor`: the kernel's word, else what the holder wrote."""
    held = os.fstat(descriptor)
    pid = _pid_in_proc_locks(held.st_dev, held.st_ino)
    if pid is None:
        pid = recorded.strip()
    return pid if pid.isdigit() else "unknown"


def _pid_in_proc_locks(device: int, inode: int) -> str | None:
    """The pid /proc/locks gives for a flock on this inode (Linux), if it lists one."""
    wanted = f"{os.major(device):02x}:{os.minor(device):02x}:{inode}"
    try:
        lines = _PROC_LOCKS.read_text(encoding="ascii", errors="replace").splitlines()
    except OSError:
        return None
    for line in lines:
        # "3: FLOCK  ADVISORY  WRITE 4242 fe:00:260072 0 EOF"; a waiter's line has "->".
        fields = line.split()
        if "FLOCK" in fields and "->" not in fields and wanted in fields:
            return fields[fields.index(wanted) - 1]
    return None


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return ""
