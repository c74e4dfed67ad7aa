"""What keeps posts from moving on: a full disk, a folder dropcast may not write, a ledger
that cannot commit.

Such a cause passes when the owner frees space or fixes a permission, so the posts it holds
stay in the inbox and are tried again at the next look; nothing is sent twice, since every
platform that has a post is in the ledger. Each cause is logged once, naming the folder or
file and why, however many posts and looks it holds up, and once more when it has cleared.
"""

from __future__ import annotations

import errno
import sqlite3
from pathlib import Path

import structlog

log = structlog.get_logger("dropcast.post")

# The kinds of error the environment raises; `is_environmental` tells which of them pass.
STORAGE_ERRORS = (OSError, sqlite3.OperationalError)

# What a full disk, a permission or a read-only or failing disk says, and passes when the
# owner fixes it; any other OSError (a name too long, a file gone) is a bug: `post.crashed`.
_ENVIRONMENT_ERRNOS = frozenset(
    {errno.EACCES, errno.EPERM, errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO}
)
_ENVIRONMENT_SQLITE = ("disk is full", "database is locked", "readonly", "disk i/o error")


def is_environmental(error: BaseException) -> bool:
    """Whether `error` is the machine's (space, permissions, a failing disk), not a bug."""
    if isinstance(error, OSError):
        return error.errno in _ENVIRONMENT_ERRNOS
    if isinstance(error, sqlite3.OperationalError):
        return any(words in str(error).lower() for words in _ENVIRONMENT_SQLITE)
    return False


class Stalls:
    """The causes holding posts up now, each logged when first seen and when it clears."""

    def __init__(self, ledger_path: Path) -> None:
        self.ledger_path = ledger_path
        self._causes: dict[tuple[str, str], None] = {}

    def stalled(self, error: BaseException) -> None:
        """A post could not move on because of `error`; say so unless it was said already
        (the post it held up first is named by the log's context)."""
        cause = self._cause(error)
        if cause in self._causes:
            return
        self._causes[cause] = None
        where, why = cause
        log.error(
            "post.stalled",
            where=where,
            cause=why,
            detail="the post stays in the inbox and moves on at the next look once this is fixed",
        )

    def moved(self) -> None:
        """A post moved on: whatever held posts up has cleared."""
        if self._causes:
            log.info("post.unstalled", cleared=[where for where, _ in self._causes])
            self._causes.clear()

    def _cause(self, error: BaseException) -> tuple[str, str]:
        if isinstance(error, OSError):
            where = error.filename if error.filename is not None else "?"
            return str(where), error.strerror or str(error)
        return str(self.ledger_path), f"the ledger could not commit: {error}"
