"""Whether a file changed since it was last looked at, without reading it."""

from __future__ import annotations

import os
from pathlib import Path

# Size, mtime and inode: an edit changes the first two, a replacement (rename over) the
# inode. None: there is no file.
Fingerprint = tuple[int, int, int] | None


def fingerprint(path: Path) -> Fingerprint:
    """The file's fingerprint now; None if it cannot be looked at."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_size, info.st_mtime_ns, info.st_ino
