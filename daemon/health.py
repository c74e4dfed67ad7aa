"""The heartbeat the running daemon writes, and `dropcast health`, which reads it.

The event loop itself rewrites `state/heartbeat` every `HEARTBEAT_SECONDS`, so a stuck loop
stops the heartbeat; a container's HEALTHCHECK (or anyone) can then tell it is unhealthy.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

HEARTBEAT_SECONDS = 15.0
STALE_AFTER_SECONDS = 4 * HEARTBEAT_SECONDS


def heartbeat_path(state_dir: Path) -> Path:
    return state_dir / "heartbeat"


def write_heartbeat(state_dir: Path, status: str) -> None:
    """Record that the loop is alive now (replace, never half-write)."""
    path = heartbeat_path(state_dir)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(
        json.dumps({"pid": os.getpid(), "time": time.time(), "status": status}), encoding="utf-8"
    )
    os.replace(temporary, path)


def check_heartbeat(state_dir: Path, now: float | None = None) -> str | None:
    """None if the heartbeat is fresh; otherwise a one-line reason it is not."""
    path = heartbeat_path(state_dir)
    try:
        beat = json.loads(path.read_text(encoding="utf-8"))
        written = float(beat["time"])
    except FileNotFoundError:
        return f"no heartbeat at {path}: dropcast is not running (or has not started yet)"
    except (OSError, ValueError, KeyError, TypeError) as error:
        return f"unreadable heartbeat {path}: {error}"
    age = (time.time() if now is None else now) - written
    if age > STALE_AFTER_SECONDS:
        return f"heartbeat {path} is {age:.0f} s old (limit {STALE_AFTER_SECONDS:.0f} s): the daemon is stuck or stopped"
    return None
