"""The daemon's own timing: how soon an idle daemon stops."""

from __future__ import annotations

import time
from pathlib import Path

import anyio

from daemon.registry import Registry
from tests.conftest import running_daemon, write_config


async def test_an_idle_daemon_stops_at_once(tmp_path: Path, registry: Registry) -> None:
    """With nothing in flight, `stop` ends `run` without waiting for an event or a rescan."""
    config = write_config(tmp_path, rescan_seconds=600)
    async with running_daemon(config, registry):
        await anyio.sleep(0.5)  # the watcher's thread is now waiting for events
        stopped_at = time.monotonic()
    # A watcher that ignored the stop would hold `run` until the next rescan (600 s). How
    # soon it stops (about 0.1 s) is the benchmarks' business: here a loaded CI machine
    # must not fail it.
    assert time.monotonic() - stopped_at < 10
