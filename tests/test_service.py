"""The daemon's own timing: how soon an idle daemon stops, how soon a reload takes effect."""

from __future__ import annotations

import time
from pathlib import Path

import anyio
import yaml
from structlog.testing import capture_logs

from daemon.registry import Registry
from tests.conftest import archived, running_daemon, wait_for, write_config, write_post
from tests.test_reload import replace_config


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


async def test_a_reload_that_enables_a_platform_publishes_a_waiting_post_at_once(
    tmp_path: Path, registry: Registry
) -> None:
    """A post that waits because no platform is enabled is published right after the reload
    that enables one, not at the next rescan (an hour away here)."""
    disabled = {"preview": {"enabled": False, "folder": "preview"}}
    config = write_config(tmp_path, disabled, rescan_seconds=3600)
    with capture_logs() as logs:
        async with running_daemon(config, registry):
            write_post(tmp_path / "inbox", "patient")
            await wait_for(
                lambda: [e for e in logs if e["event"] == "post.waiting"], what="the wait"
            )
            settings = yaml.safe_load(config.read_text(encoding="utf-8"))
            settings["platforms"]["preview"]["enabled"] = True
            replace_config(config, yaml.safe_dump(settings))
            await wait_for(lambda: len(archived(tmp_path)) == 3, within=30, what="the post")
    assert [p.name for p in archived(tmp_path)] == [
        "patient.jpg",
        "patient.result.json",
        "patient.txt",
    ]
